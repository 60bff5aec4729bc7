/**
 * Codec for relevance.v1 ScoreRequest (proto/relevance/v1/relevance.proto).
 * Tags are literals, `(field << 3) | wireType`: every field number is below 16, so one byte each.
 */

import { Reader } from "../wire.js";
import {
  delimitedSize,
  int32Size,
  lengths,
  putHeader,
  putStr,
  putStrRepeated,
  strFieldSize,
  strRepeatedSize,
  writeInt32,
} from "../wire-writer.js";
import type { DocumentMessage, QueryMessage, ScoreRequestMessage } from "./messages.js";

// ---- decode ----------------------------------------------------------------

function decodeQuery(r: Reader, end: number, m: QueryMessage): QueryMessage {
  while (r.pos < end) {
    const tag = r.uint32();
    if (tag === 0x0a) m.text = r.string();
    else if (tag === 0x12) m.locale = r.string();
    else r.skipField(tag);
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
        r.skipField(tag);
    }
  }
  r.endMessage(end);
  return m;
}

/**
 * The top-level fields; each document is decoded by `document` from its
 * delimited region (`r.pos` at its first byte, `end` its end).
 */
function decodeFields(buf: Buffer, m: ScoreRequestMessage, document: (r: Reader, end: number) => void): void {
  const r = new Reader(buf);
  const end = buf.length;
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
        document(r, r.delimitedEnd());
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
      case 0x40:
        m.cachePolicy = r.int32();
        break;
      default:
        r.skipField(tag);
    }
  }
}

export function decodeScoreRequest(buf: Buffer): ScoreRequestMessage {
  const m: ScoreRequestMessage = {
    requestId: "",
    query: undefined,
    documents: [],
    routingKey: "",
    experiment: "",
    priority: 0,
    modelPreference: 0,
    cachePolicy: 0,
  };
  decodeFields(buf, m, (r, end) => m.documents.push(decodeDocument(r, end)));
  return m;
}

/**
 * A ScoreRequest read off the wire whose documents are decoded when
 * `documents` is first read. Everything else is decoded, and the documents'
 * framing checked, at once; `documentCount` is known without decoding them.
 * A large request refused for load is refused before its documents' strings
 * are decoded: for a 1,000-document request that decoding is most of the
 * gateway's work on it. Reading `documents` throws CodecError when one of
 * them is malformed.
 */
export class DeferredScoreRequest implements ScoreRequestMessage {
  requestId = "";
  query: QueryMessage | undefined = undefined;
  routingKey = "";
  experiment = "";
  priority = 0;
  modelPreference = 0;
  cachePolicy = 0;
  /** The input while documents are undecoded; then undefined, so that it can be collected. */
  #buf: Buffer | undefined;
  /** Start and end offset of each document's region, in pairs. */
  #regions: number[] = [];
  #documents: DocumentMessage[] | undefined;
  #count: number;
  /** Whether `takeDocuments` has handed the documents out. */
  #taken = false;

  constructor(buf: Buffer) {
    this.#buf = buf;
    const regions = this.#regions;
    decodeFields(buf, this, (r, end) => {
      regions.push(r.pos, end);
      r.pos = end;
    });
    this.#count = regions.length / 2;
  }

  get documentCount(): number {
    return this.#count;
  }

  get documents(): DocumentMessage[] {
    if (this.#taken) throw new Error("the documents of this request were taken");
    if (this.#documents === undefined) {
      const regions = this.#regions;
      const r = new Reader(this.#buf!);
      const out = new Array<DocumentMessage>(regions.length / 2);
      for (let i = 0; i < out.length; i++) {
        r.pos = regions[2 * i]!;
        out[i] = decodeDocument(r, regions[2 * i + 1]!);
      }
      this.#documents = out;
      this.#buf = undefined;
      this.#regions = [];
    }
    return this.#documents;
  }

  set documents(documents: DocumentMessage[]) {
    this.#documents = documents;
    this.#count = documents.length;
    this.#taken = false;
    this.#buf = undefined;
    this.#regions = [];
  }

  /**
   * The documents, decoded if they were not yet, which the request then lets
   * go of: it keeps its other fields and its document count, and reading
   * `documents` again is an error. The caller that takes them decides how
   * long they live.
   */
  takeDocuments(): DocumentMessage[] {
    const documents = this.documents;
    this.#documents = undefined;
    this.#taken = true;
    return documents;
  }
}

/** How many documents a request carries, without decoding deferred ones. */
export function documentCount(m: ScoreRequestMessage): number {
  return m instanceof DeferredScoreRequest ? m.documentCount : m.documents.length;
}

/**
 * A request's documents for one reader that keeps them only as long as it
 * needs them: a request read off the wire lets go of them (see
 * `DeferredScoreRequest.takeDocuments`); any other request keeps them.
 */
export function takeDocuments(m: ScoreRequestMessage): DocumentMessage[] {
  return m instanceof DeferredScoreRequest ? m.takeDocuments() : m.documents;
}

// ---- encode ----------------------------------------------------------------

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
  const cachePolicy = (m.cachePolicy ?? 0) | 0;
  if (cachePolicy !== 0) size += 1 + int32Size(cachePolicy);
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
  const cachePolicy = (m.cachePolicy ?? 0) | 0;
  if (cachePolicy !== 0) {
    buf[pos++] = 0x40;
    pos = writeInt32(buf, pos, cachePolicy);
  }
  return lengths.done(buf, pos);
}
