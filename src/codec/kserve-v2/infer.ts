/**
 * Codec for KServe v2 ModelInferRequest and ModelInferResponse
 * (proto/inference/grpc_service.proto), the messages exchanged with Triton.
 * InferInputTensor and InferOutputTensor share field numbers, hence one codec.
 *
 * Decoded `bytes` fields (raw_input_contents, raw_output_contents,
 * bytes_contents) are views into the input buffer, not copies: they are valid
 * as long as the input is, and writing to the input changes them.
 */

import { CodecError, Reader } from "../wire.js";
import {
  delimitedSize,
  int64Size,
  lengths,
  putHeader,
  putStr,
  strFieldSize,
  writeBytes,
  writeInt64,
} from "../wire-writer.js";
import { contentsSize, decodeContents, emptyContents, writeContents } from "./contents.js";
import type {
  InferRequestedOutputMessage,
  InferTensorMessage,
  ModelInferRequestMessage,
  ModelInferResponseMessage,
} from "./messages.js";
import { decodeParameterEntry, type InferParameters, parametersSize, writeParameters } from "./parameters.js";

// ---- decode --------------------------------------------------------------

function readShape(r: Reader, out: number[]): void {
  const end = r.delimitedEnd();
  while (r.pos < end) out.push(r.int64());
  if (r.pos !== end) throw new CodecError("packed shape overruns its length");
}

function decodeTensor(r: Reader, end: number): InferTensorMessage {
  const m: InferTensorMessage = { name: "", datatype: "", shape: [], parameters: {}, contents: undefined };
  while (r.pos < end) {
    const tag = r.uint32();
    switch (tag) {
      case 0x0a:
        m.name = r.string();
        break;
      case 0x12:
        m.datatype = r.string();
        break;
      case 0x18:
        m.shape.push(r.int64());
        break;
      case 0x1a:
        readShape(r, m.shape);
        break;
      case 0x22:
        decodeParameterEntry(r, r.delimitedEnd(), m.parameters);
        break;
      case 0x2a:
        m.contents = decodeContents(r, r.delimitedEnd(), m.contents ?? emptyContents());
        break;
      default:
        r.skipField(tag);
    }
  }
  r.endMessage(end);
  return m;
}

function decodeRequestedOutput(r: Reader, end: number): InferRequestedOutputMessage {
  const m: InferRequestedOutputMessage = { name: "", parameters: {} };
  while (r.pos < end) {
    const tag = r.uint32();
    if (tag === 0x0a) m.name = r.string();
    else if (tag === 0x12) decodeParameterEntry(r, r.delimitedEnd(), m.parameters);
    else r.skipField(tag);
  }
  r.endMessage(end);
  return m;
}

export function decodeModelInferRequest(buf: Buffer): ModelInferRequestMessage {
  const r = new Reader(buf);
  const end = buf.length;
  const m: ModelInferRequestMessage = {
    modelName: "",
    modelVersion: "",
    id: "",
    parameters: {},
    inputs: [],
    outputs: [],
    rawInputContents: [],
  };
  while (r.pos < end) {
    const tag = r.uint32();
    switch (tag) {
      case 0x0a:
        m.modelName = r.string();
        break;
      case 0x12:
        m.modelVersion = r.string();
        break;
      case 0x1a:
        m.id = r.string();
        break;
      case 0x22:
        decodeParameterEntry(r, r.delimitedEnd(), m.parameters);
        break;
      case 0x2a:
        m.inputs.push(decodeTensor(r, r.delimitedEnd()));
        break;
      case 0x32:
        m.outputs.push(decodeRequestedOutput(r, r.delimitedEnd()));
        break;
      case 0x3a:
        m.rawInputContents.push(r.bytes());
        break;
      default:
        r.skipField(tag);
    }
  }
  return m;
}

export function decodeModelInferResponse(buf: Buffer): ModelInferResponseMessage {
  const r = new Reader(buf);
  const end = buf.length;
  const m: ModelInferResponseMessage = {
    modelName: "",
    modelVersion: "",
    id: "",
    parameters: {},
    outputs: [],
    rawOutputContents: [],
  };
  while (r.pos < end) {
    const tag = r.uint32();
    switch (tag) {
      case 0x0a:
        m.modelName = r.string();
        break;
      case 0x12:
        m.modelVersion = r.string();
        break;
      case 0x1a:
        m.id = r.string();
        break;
      case 0x22:
        decodeParameterEntry(r, r.delimitedEnd(), m.parameters);
        break;
      case 0x2a:
        m.outputs.push(decodeTensor(r, r.delimitedEnd()));
        break;
      case 0x32:
        m.rawOutputContents.push(r.bytes());
        break;
      default:
        r.skipField(tag);
    }
  }
  return m;
}

// ---- encode --------------------------------------------------------------

function tensorSize(t: InferTensorMessage): number {
  const slot = lengths.reserve();
  let size = strFieldSize(t.name) + strFieldSize(t.datatype);
  const shape = t.shape;
  if (shape.length !== 0) {
    let payload = 0;
    for (let i = 0; i < shape.length; i++) payload += int64Size(shape[i]!);
    size += delimitedSize(lengths.push(payload));
  }
  size += parametersSize(t.parameters);
  if (t.contents !== undefined) {
    const contentsSlot = lengths.reserve();
    const contents = contentsSize(t.contents);
    lengths.set(contentsSlot, contents);
    size += delimitedSize(contents);
  }
  lengths.set(slot, size);
  return size;
}

function writeTensor(buf: Buffer, pos: number, tag: number, t: InferTensorMessage): number {
  pos = putHeader(buf, pos, tag);
  pos = putStr(buf, pos, 0x0a, t.name);
  pos = putStr(buf, pos, 0x12, t.datatype);
  const shape = t.shape;
  if (shape.length !== 0) {
    pos = putHeader(buf, pos, 0x1a);
    for (let i = 0; i < shape.length; i++) pos = writeInt64(buf, pos, shape[i]!);
  }
  pos = writeParameters(buf, pos, 0x22, t.parameters);
  if (t.contents !== undefined) {
    pos = putHeader(buf, pos, 0x2a);
    pos = writeContents(buf, pos, t.contents);
  }
  return pos;
}

function requestedOutputSize(o: InferRequestedOutputMessage): number {
  const slot = lengths.reserve();
  const size = strFieldSize(o.name) + parametersSize(o.parameters);
  lengths.set(slot, size);
  return size;
}

/** Size of the fields 1..4 that request and response share. */
function headSize(m: { modelName: string; modelVersion: string; id: string; parameters: InferParameters }) {
  return (
    strFieldSize(m.modelName) +
    strFieldSize(m.modelVersion) +
    strFieldSize(m.id) +
    parametersSize(m.parameters)
  );
}

function writeHead(
  buf: Buffer,
  m: { modelName: string; modelVersion: string; id: string; parameters: InferParameters },
): number {
  let pos = putStr(buf, 0, 0x0a, m.modelName);
  pos = putStr(buf, pos, 0x12, m.modelVersion);
  pos = putStr(buf, pos, 0x1a, m.id);
  return writeParameters(buf, pos, 0x22, m.parameters);
}

function rawSize(raw: readonly Uint8Array[]): number {
  let size = 0;
  for (let i = 0; i < raw.length; i++) size += delimitedSize(raw[i]!.length);
  return size;
}

export function encodeModelInferRequest(m: ModelInferRequestMessage): Buffer {
  lengths.reset();
  let size = headSize(m);
  const inputs = m.inputs;
  const outputs = m.outputs;
  const raw = m.rawInputContents;
  for (let i = 0; i < inputs.length; i++) size += delimitedSize(tensorSize(inputs[i]!));
  for (let i = 0; i < outputs.length; i++) size += delimitedSize(requestedOutputSize(outputs[i]!));
  size += rawSize(raw);

  const buf = Buffer.allocUnsafe(size);
  let pos = writeHead(buf, m);
  for (let i = 0; i < inputs.length; i++) pos = writeTensor(buf, pos, 0x2a, inputs[i]!);
  for (let i = 0; i < outputs.length; i++) {
    const o = outputs[i]!;
    pos = putHeader(buf, pos, 0x32);
    pos = putStr(buf, pos, 0x0a, o.name);
    pos = writeParameters(buf, pos, 0x12, o.parameters);
  }
  for (let i = 0; i < raw.length; i++) pos = writeBytes(buf, pos, 0x3a, raw[i]!);
  return lengths.done(buf, pos);
}

export function encodeModelInferResponse(m: ModelInferResponseMessage): Buffer {
  lengths.reset();
  let size = headSize(m);
  const outputs = m.outputs;
  const raw = m.rawOutputContents;
  for (let i = 0; i < outputs.length; i++) size += delimitedSize(tensorSize(outputs[i]!));
  size += rawSize(raw);

  const buf = Buffer.allocUnsafe(size);
  let pos = writeHead(buf, m);
  for (let i = 0; i < outputs.length; i++) pos = writeTensor(buf, pos, 0x2a, outputs[i]!);
  for (let i = 0; i < raw.length; i++) pos = writeBytes(buf, pos, 0x32, raw[i]!);
  return lengths.done(buf, pos);
}
