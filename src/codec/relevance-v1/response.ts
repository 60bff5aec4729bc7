/**
 * Codec for relevance.v1 ScoreResponse (proto/relevance/v1/relevance.proto).
 * Tags are literals, `(field << 3) | wireType`: every field number is below 16, so one byte each.
 */

import { Reader } from "../wire.js";
import {
  delimitedSize,
  int32Size,
  isDefaultFloat,
  lengths,
  putHeader,
  putStr,
  strFieldSize,
  writeFloat,
  writeInt32,
  writeVarint32,
} from "../wire-writer.js";
import type { DocumentScoreMessage, ModelInfoMessage, ScoreResponseMessage } from "./messages.js";

// ---- decode ----------------------------------------------------------------

function decodeDocumentScore(r: Reader, end: number): DocumentScoreMessage {
  const probabilities: number[] = [];
  const m: DocumentScoreMessage = {
    documentId: "",
    probabilities,
    expectedRelevance: 0,
    label: 0,
    cached: false,
  };
  while (r.pos < end) {
    const tag = r.uint32();
    switch (tag) {
      case 0x0a:
        m.documentId = r.string();
        break;
      case 0x12:
        // Packed is the canonical form; one value per tag (below) is also valid proto3.
        r.packedFloats(probabilities);
        break;
      case 0x15:
        probabilities.push(r.float());
        break;
      case 0x1d:
        m.expectedRelevance = r.float();
        break;
      case 0x20:
        m.label = r.int32();
        break;
      case 0x28:
        m.cached = r.bool();
        break;
      default:
        r.skipField(tag);
    }
  }
  r.endMessage(end);
  return m;
}

function decodeModelInfo(r: Reader, end: number, m: ModelInfoMessage): ModelInfoMessage {
  while (r.pos < end) {
    const tag = r.uint32();
    if (tag === 0x08) m.role = r.int32();
    else if (tag === 0x12) m.name = r.string();
    else if (tag === 0x1a) m.version = r.string();
    else if (tag === 0x22) m.backend = r.string();
    else r.skipField(tag);
  }
  r.endMessage(end);
  return m;
}

export function decodeScoreResponse(buf: Buffer): ScoreResponseMessage {
  const r = new Reader(buf);
  const end = buf.length;
  const m: ScoreResponseMessage = { requestId: "", scores: [], model: undefined, route: "" };
  while (r.pos < end) {
    const tag = r.uint32();
    switch (tag) {
      case 0x0a:
        m.requestId = r.string();
        break;
      case 0x12:
        m.scores.push(decodeDocumentScore(r, r.delimitedEnd()));
        break;
      case 0x1a:
        m.model = decodeModelInfo(
          r,
          r.delimitedEnd(),
          m.model ?? { role: 0, name: "", version: "", backend: "" },
        );
        break;
      case 0x22:
        m.route = r.string();
        break;
      default:
        r.skipField(tag);
    }
  }
  return m;
}

// ---- encode ----------------------------------------------------------------

function sizeDocumentScore(s: DocumentScoreMessage): number {
  const slot = lengths.reserve();
  let size = strFieldSize(s.documentId);
  const np = s.probabilities.length;
  if (np !== 0) size += delimitedSize(np * 4);
  if (!isDefaultFloat(s.expectedRelevance)) size += 5;
  const label = s.label | 0;
  if (label !== 0) size += 1 + int32Size(label);
  if (s.cached === true) size += 2;
  lengths.set(slot, size);
  return size;
}

function sizeScoreResponse(m: ScoreResponseMessage): number {
  let size = strFieldSize(m.requestId);
  const scores = m.scores;
  for (let i = 0; i < scores.length; i++) size += delimitedSize(sizeDocumentScore(scores[i]!));
  if (m.model !== undefined) {
    const slot = lengths.reserve();
    const mi = m.model;
    const role = mi.role | 0;
    let s = role !== 0 ? 1 + int32Size(role) : 0;
    s += strFieldSize(mi.name) + strFieldSize(mi.version) + strFieldSize(mi.backend);
    lengths.set(slot, s);
    size += delimitedSize(s);
  }
  return size + strFieldSize(m.route);
}

function writeDocumentScore(buf: Buffer, pos: number, s: DocumentScoreMessage): number {
  pos = putHeader(buf, pos, 0x12);
  pos = putStr(buf, pos, 0x0a, s.documentId);
  const p = s.probabilities;
  const np = p.length;
  if (np !== 0) {
    buf[pos++] = 0x12;
    pos = writeVarint32(buf, pos, np * 4);
    for (let i = 0; i < np; i++) pos = writeFloat(buf, pos, p[i]!);
  }
  if (!isDefaultFloat(s.expectedRelevance)) {
    buf[pos++] = 0x1d;
    pos = writeFloat(buf, pos, s.expectedRelevance);
  }
  const label = s.label | 0;
  if (label !== 0) {
    buf[pos++] = 0x20;
    pos = writeInt32(buf, pos, label);
  }
  if (s.cached === true) {
    buf[pos++] = 0x28;
    buf[pos++] = 1;
  }
  return pos;
}

export function encodeScoreResponse(m: ScoreResponseMessage): Buffer {
  lengths.reset();
  const buf = Buffer.allocUnsafe(sizeScoreResponse(m));
  let pos = putStr(buf, 0, 0x0a, m.requestId);
  const scores = m.scores;
  for (let i = 0; i < scores.length; i++) pos = writeDocumentScore(buf, pos, scores[i]!);
  if (m.model !== undefined) {
    const mi = m.model;
    pos = putHeader(buf, pos, 0x1a);
    const role = mi.role | 0;
    if (role !== 0) {
      buf[pos++] = 0x08;
      pos = writeInt32(buf, pos, role);
    }
    pos = putStr(buf, pos, 0x12, mi.name);
    pos = putStr(buf, pos, 0x1a, mi.version);
    pos = putStr(buf, pos, 0x22, mi.backend);
  }
  pos = putStr(buf, pos, 0x22, m.route);
  return lengths.done(buf, pos);
}
