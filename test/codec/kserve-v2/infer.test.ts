import t from "tap";
import {
  decodeModelInferRequest,
  decodeModelInferResponse,
  encodeModelInferRequest,
  encodeModelInferResponse,
  type InferParameterValue,
  type ModelInferRequestMessage,
  type ModelInferResponseMessage,
} from "../../../src/codec/index.js";
import { crossCheck } from "../cross-check.js";
import { modelInferRequest, modelInferResponse } from "../gen.js";
import { pbjsDecode, root } from "../pbjs.js";

const allParameterKinds: Record<string, InferParameterValue> = {
  flag: { kind: "bool", value: true },
  off: { kind: "bool", value: false },
  sequence_id: { kind: "int64", value: -(2 ** 40) },
  zero: { kind: "int64", value: 0 },
  priority: { kind: "string", value: "высокий 高 🔥" },
  empty: { kind: "string", value: "" },
  ratio: { kind: "double", value: -0.125 },
  timeout: { kind: "uint64", value: 2 ** 53 - 1 },
  "": { kind: "uint64", value: 0 },
};

function bytesTensor(name: string, texts: string[]) {
  return {
    name,
    datatype: "BYTES",
    shape: [texts.length, 1],
    parameters: {},
    contents: {
      boolContents: [],
      intContents: [],
      int64Contents: [],
      uintContents: [],
      uint64Contents: [],
      fp32Contents: [],
      fp64Contents: [],
      bytesContents: texts.map((s) => Buffer.from(s)),
    },
  };
}

/** The request the Triton backend sends: n (query, document) pairs as two BYTES tensors. */
export function pairsRequest(n: number): ModelInferRequestMessage {
  const queries: string[] = [];
  const documents: string[] = [];
  for (let i = 0; i < n; i++) {
    queries.push(`query ${i % 7}: modern living room`);
    documents.push(`title ${i} | a grey sofa next to a plant | boards: living room, リビング | en-US`);
  }
  return {
    modelName: "relevance_student",
    modelVersion: "",
    id: "batch-17",
    parameters: { priority: { kind: "uint64", value: 1 } },
    inputs: [bytesTensor("QUERY", queries), bytesTensor("DOCUMENT", documents)],
    outputs: [{ name: "PROBS", parameters: {} }],
    rawInputContents: [],
  };
}

/** Triton's answer: n×5 fp32 probabilities in raw_output_contents. */
export function probsResponse(n: number): ModelInferResponseMessage {
  const probs = new Float32Array(n * 5).fill(0.2);
  return {
    modelName: "relevance_student",
    modelVersion: "3",
    id: "batch-17",
    parameters: {},
    outputs: [{ name: "PROBS", datatype: "FP32", shape: [n, 5], parameters: {}, contents: undefined }],
    rawOutputContents: [Buffer.from(probs.buffer)],
  };
}

const emptyRequest: ModelInferRequestMessage = {
  modelName: "",
  modelVersion: "",
  id: "",
  parameters: {},
  inputs: [],
  outputs: [],
  rawInputContents: [],
};

t.test("ModelInferRequest", async (t) => {
  crossCheck(
    t,
    {
      kind: "modelInferRequest",
      encode: encodeModelInferRequest,
      decode: decodeModelInferRequest,
      generate: modelInferRequest,
    },
    {
      empty: emptyRequest,
      "256 pairs": pairsRequest(256),
      "every parameter kind, at every level": {
        ...emptyRequest,
        parameters: allParameterKinds,
        inputs: [{ ...bytesTensor("Q", ["a"]), parameters: allParameterKinds, shape: [-1, 2 ** 33, -1] }],
        outputs: [{ name: "P", parameters: allParameterKinds }],
        rawInputContents: [new Uint8Array(0), new Uint8Array([1, 2, 3])],
      },
    },
  );
});

t.test("ModelInferResponse", async (t) => {
  crossCheck(
    t,
    {
      kind: "modelInferResponse",
      encode: encodeModelInferResponse,
      decode: decodeModelInferResponse,
      generate: modelInferResponse,
    },
    {
      "256x5 fp32": probsResponse(256),
      "with parameters": { ...probsResponse(1), parameters: allParameterKinds },
      // Long enough for the bulk path and more than one scratch chunk; the odd-length id misaligns the floats.
      "long fp32 and fp64 runs": {
        ...probsResponse(0),
        id: "odd",
        rawOutputContents: [],
        outputs: [
          {
            ...bytesTensor("P", []),
            contents: {
              ...bytesTensor("P", []).contents,
              fp32Contents: Array.from({ length: 1500 }, (_, i) => Math.fround(i / 7 - 100)),
              fp64Contents: Array.from({ length: 700 }, (_, i) => i / 3 - 1e-3),
            },
          },
        ],
      },
    },
  );
});

t.test("shape -1 is a 10-byte varint and decodes to -1", async (t) => {
  const buf = encodeModelInferRequest({
    ...emptyRequest,
    inputs: [{ name: "", datatype: "", shape: [-1], parameters: {}, contents: undefined }],
  });
  // inputs (field 5): length 12 → shape (field 3, packed): length 10 → ff×9 01.
  t.equal(buf.toString("hex"), `2a0c1a0a${"ff".repeat(9)}01`);
  t.same(decodeModelInferRequest(buf).inputs[0]?.shape, [-1]);
});

t.test("bytes fields are views of the input, not copies", async (t) => {
  const buf = encodeModelInferResponse(probsResponse(2));
  const m = decodeModelInferResponse(buf);
  const raw = m.rawOutputContents[0]!;
  t.equal(raw.buffer, buf.buffer);
  t.equal(new Float32Array(new Uint8Array(raw).buffer)[9], Math.fround(0.2));
  buf[buf.length - 1] = 0;
  t.equal(raw[raw.length - 1], 0, "writing to the input shows through");
});

t.test("a __proto__ map key is an ordinary key", async (t) => {
  const params: Record<string, InferParameterValue> = {};
  Object.defineProperty(params, "__proto__", {
    value: { kind: "string", value: "x" },
    enumerable: true,
    writable: true,
    configurable: true,
  });
  const m = decodeModelInferRequest(encodeModelInferRequest({ ...emptyRequest, parameters: params }));
  t.equal(Object.getPrototypeOf(m.parameters), Object.prototype);
  t.same(Object.getOwnPropertyDescriptor(m.parameters, "__proto__")?.value, { kind: "string", value: "x" });
  t.same(pbjsDecode("modelInferRequest", encodeModelInferRequest({ ...emptyRequest, parameters: params })), {
    ...emptyRequest,
    parameters: params,
  });
});

t.test("map entries: last duplicate key wins; an entry without a value leaves the key absent", async (t) => {
  const a = encodeModelInferRequest({ ...emptyRequest, parameters: { k: { kind: "bool", value: true } } });
  const b = encodeModelInferRequest({ ...emptyRequest, parameters: { k: { kind: "int64", value: 5 } } });
  t.same(decodeModelInferRequest(Buffer.concat([a, b])).parameters, { k: { kind: "int64", value: 5 } });
  // parameters (field 4): entry { key = "k" } with no value; then an entry { key = "j", value = {} }.
  const noValue = Buffer.from([0x22, 0x03, 0x0a, 0x01, 0x6b, 0x22, 0x05, 0x0a, 0x01, 0x6a, 0x12, 0x00]);
  t.same(decodeModelInferRequest(noValue).parameters, {});
  t.same(decodeModelInferRequest(Buffer.concat([a, noValue])).parameters, {});
  // An entry without a key has the key "".
  t.same(decodeModelInferRequest(Buffer.from([0x22, 0x04, 0x12, 0x02, 0x08, 0x01])).parameters, {
    "": { kind: "bool", value: true },
  });
});

t.test("contents repeated on the wire merge (repeated fields concatenate)", async (t) => {
  // Two encodings of one output tensor, concatenated: the second's fields merge into the first.
  const tensorType = root.lookupType("inference.ModelInferResponse.InferOutputTensor");
  const tensorBytes = Buffer.concat([
    Buffer.from(
      tensorType.encode({ name: "P", contents: { fp32Contents: [1, 2], boolContents: [true] } }).finish(),
    ),
    Buffer.from(tensorType.encode({ contents: { fp32Contents: [3] } }).finish()),
  ]);
  const framed = Buffer.concat([Buffer.from([0x2a, tensorBytes.length]), tensorBytes]);
  const merged = decodeModelInferResponse(framed).outputs[0]!;
  t.equal(merged.name, "P");
  t.same(merged.contents?.fp32Contents, [1, 2, 3]);
  t.same(merged.contents?.boolContents, [true]);
});
