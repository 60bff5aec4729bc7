/**
 * Codec for relevance.v1 ScoreRequest and ScoreResponse (proto/relevance/v1/relevance.proto).
 * Tags are written as literals: `(field << 3) | wireType`, all field numbers < 16 so one byte each.
 */

import type {
  DocumentMessage,
  DocumentScoreMessage,
  ModelInfoMessage,
  QueryMessage,
  ScoreRequestMessage,
  ScoreResponseMessage,
} from "./messages.js";
import { Reader } from "./wire.js";
import {
  delimitedSize,
  int32Size,
  isDefaultFloat,
  lengths,
  putHeader,
  putStr,
  putStrRepeated,
  strFieldSize,
  strRepeatedSize,
  writeFloat,
  writeInt32,
  writeVarint32,
} from "./wire-writer.js";

// ---- ScoreRequest: decode --------------------------------------------------

function decodeQuery(r: Reader, end: number, m: QueryMessage): QueryMessage {
  while (r.pos < end) {
    const tag = r.uint32();
    if (tag === 0x0a) m.text = r.string();
    else if (tag === 0x12) m.locale = r.string();
    else r.skip(tag);
  }
  r.endMessage(end);
  return m;
}

function decodeDocument(r: Reader, end: number): DocumentMessage {
  const m: DocumentMessage = {
    id: "",
    title: "",
    description: "",
    imageCaption: "",
    boardTitles: [],
    engagedQueries: [],
    linkText: "",
    locale: "",
  };
  while (r.pos < end) {
    const tag = r.uint32();
    switch (tag) {
      case 0x0a:
        m.id = r.string();
        break;
      case 0x12:
        m.title = r.string();
        break;
      case 0x1a:
        m.description = r.string();
        break;
      case 0x22:
        m.imageCaption = r.string();
        break;
      case 0x2a:
        m.boardTitles.push(r.string());
        break;
      case 0x32:
        m.engagedQueries.push(r.string());
        break;
      case 0x3a:
        m.linkText = r.string();
        break;
      case 0x42:
        m.locale = r.string();
        break;
      default:
        r.skip(tag);
    }
  }
  r.endMessage(end);
  return m;
}

export function decodeScoreRequest(buf: Buffer): ScoreRequestMessage {
  const r = new Reader(buf);
  const end = buf.length;
  const m: ScoreRequestMessage = {
    requestId: "",
    query: undefined,
    documents: [],
    routingKey: "",
    experiment: "",
    priority: 0,
    modelPreference: 0,
  };
  while (r.pos < end) {
    const tag = r.uint32();
    switch (tag) {
      case 0x0a:
        m.requestId = r.string();
        break;
      case 0x12:
        // A message field repeated on the wire merges into the earlier value.
        m.query = decodeQuery(r, r.delimitedEnd(), m.query ?? { text: "", locale: "" });
        break;
      case 0x1a:
        m.documents.push(decodeDocument(r, r.delimitedEnd()));
        break;
      case 0x22:
        m.routingKey = r.string();
        break;
      case 0x2a:
        m.experiment = r.string();
        break;
      case 0x30:
        m.priority = r.int32();
        break;
      case 0x38:
        m.modelPreference = r.int32();
        break;
      default:
        r.skip(tag);
    }
  }
  return m;
}

// ---- ScoreRequest: encode --------------------------------------------------

function sizeDocument(d: DocumentMessage): number {
  const slot = lengths.reserve();
  const size =
    strFieldSize(d.id) +
    strFieldSize(d.title) +
    strFieldSize(d.description) +
    strFieldSize(d.imageCaption) +
    strRepeatedSize(d.boardTitles) +
    strRepeatedSize(d.engagedQueries) +
    strFieldSize(d.linkText) +
    strFieldSize(d.locale);
  lengths.set(slot, size);
  return size;
}

function sizeScoreRequest(m: ScoreRequestMessage): number {
  let size = strFieldSize(m.requestId);
  if (m.query !== undefined) {
    const slot = lengths.reserve();
    const q = strFieldSize(m.query.text) + strFieldSize(m.query.locale);
    lengths.set(slot, q);
    size += delimitedSize(q);
  }
  const docs = m.documents;
  for (let i = 0; i < docs.length; i++) size += delimitedSize(sizeDocument(docs[i]!));
  size += strFieldSize(m.routingKey) + strFieldSize(m.experiment);
  const priority = m.priority | 0;
  const preference = m.modelPreference | 0;
  if (priority !== 0) size += 1 + int32Size(priority);
  if (preference !== 0) size += 1 + int32Size(preference);
  return size;
}

function writeDocument(buf: Buffer, pos: number, d: DocumentMessage): number {
  pos = putHeader(buf, pos, 0x1a);
  pos = putStr(buf, pos, 0x0a, d.id);
  pos = putStr(buf, pos, 0x12, d.title);
  pos = putStr(buf, pos, 0x1a, d.description);
  pos = putStr(buf, pos, 0x22, d.imageCaption);
  pos = putStrRepeated(buf, pos, 0x2a, d.boardTitles);
  pos = putStrRepeated(buf, pos, 0x32, d.engagedQueries);
  pos = putStr(buf, pos, 0x3a, d.linkText);
  return putStr(buf, pos, 0x42, d.locale);
}

export function encodeScoreRequest(m: ScoreRequestMessage): Buffer {
  lengths.reset();
  const buf = Buffer.allocUnsafe(sizeScoreRequest(m));
  let pos = putStr(buf, 0, 0x0a, m.requestId);
  if (m.query !== undefined) {
    pos = putHeader(buf, pos, 0x12);
    pos = putStr(buf, pos, 0x0a, m.query.text);
    pos = putStr(buf, pos, 0x12, m.query.locale);
  }
  const docs = m.documents;
  for (let i = 0; i < docs.length; i++) pos = writeDocument(buf, pos, docs[i]!);
  pos = putStr(buf, pos, 0x22, m.routingKey);
  pos = putStr(buf, pos, 0x2a, m.experiment);
  const priority = m.priority | 0;
  const preference = m.modelPreference | 0;
  if (priority !== 0) {
    buf[pos++] = 0x30;
    pos = writeInt32(buf, pos, priority);
  }
  if (preference !== 0) {
    buf[pos++] = 0x38;
    pos = writeInt32(buf, pos, preference);
  }
  return lengths.done(buf, pos);
}

// ---- ScoreResponse: decode -------------------------------------------------

function decodeDocumentScore(r: Reader, end: number): DocumentScoreMessage {
  const probabilities: number[] = [];
  const m: DocumentScoreMessage = { documentId: "", probabilities, expectedRelevance: 0, label: 0 };
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
      default:
        r.skip(tag);
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
    else r.skip(tag);
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
        r.skip(tag);
    }
  }
  return m;
}

// ---- ScoreResponse: encode -------------------------------------------------

function sizeDocumentScore(s: DocumentScoreMessage): number {
  const slot = lengths.reserve();
  let size = strFieldSize(s.documentId);
  const np = s.probabilities.length;
  if (np !== 0) size += delimitedSize(np * 4);
  if (!isDefaultFloat(s.expectedRelevance)) size += 5;
  const label = s.label | 0;
  if (label !== 0) size += 1 + int32Size(label);
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
