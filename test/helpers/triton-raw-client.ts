/**
 * Bare grpc-js access to a KServe v2 server for tests: ModelInfer through the
 * hand-written codec, the cold RPCs through a proto-loader generic client.
 * Deliberately independent of the gateway's Triton backend client.
 */
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import {
  decodeModelInferResponse,
  encodeModelInferRequest,
  type InferTensorMessage,
  type ModelInferRequestMessage,
  type ModelInferResponseMessage,
} from "../../src/codec/index.js";
import { PROTO_DIR } from "../../src/util/proto-path.js";

export const MODEL_INFER_PATH = "/inference.GRPCInferenceService/ModelInfer";

/** uint32 LE length + UTF-8 bytes per element, concatenated. */
export function packStrings(texts: readonly string[]): Buffer {
  return Buffer.concat(
    texts.flatMap((s) => {
      const bytes = Buffer.from(s, "utf8");
      const len = Buffer.alloc(4);
      len.writeUInt32LE(bytes.length);
      return [len, bytes];
    }),
  );
}

export function bytesInput(
  name: string,
  n: number,
  overrides: Partial<InferTensorMessage> = {},
): InferTensorMessage {
  return { name, datatype: "BYTES", shape: [n, 1], parameters: {}, contents: undefined, ...overrides };
}

/** A valid request for the default sim model, with raw contents; override any field. */
export function pairRequest(
  queries: readonly string[],
  documents: readonly string[],
  overrides: Partial<ModelInferRequestMessage> = {},
): ModelInferRequestMessage {
  return {
    modelName: "relevance_student",
    modelVersion: "",
    id: "",
    parameters: {},
    inputs: [bytesInput("QUERY", queries.length), bytesInput("DOCUMENT", documents.length)],
    outputs: [],
    rawInputContents: [packStrings(queries), packStrings(documents)],
    ...overrides,
  };
}

export interface RawCall {
  readonly call: grpc.ClientUnaryCall;
  readonly result: Promise<ModelInferResponseMessage>;
}

export function rawInfer(
  client: grpc.Client,
  req: ModelInferRequestMessage,
  options: grpc.CallOptions = {},
): RawCall {
  let call!: grpc.ClientUnaryCall;
  const result = new Promise<ModelInferResponseMessage>((resolve, reject) => {
    call = client.makeUnaryRequest(
      MODEL_INFER_PATH,
      encodeModelInferRequest,
      decodeModelInferResponse,
      req,
      new grpc.Metadata(),
      options,
      (err, res) => (err ? reject(err) : resolve(res!)),
    );
  });
  return { call, result };
}

/** Float32 LE values of a raw output tensor. */
export function readFloats(raw: Uint8Array): number[] {
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const out: number[] = [];
  for (let i = 0; i + 4 <= raw.byteLength; i += 4) out.push(view.getFloat32(i, true));
  return out;
}

type Callback = (err: grpc.ServiceError | null, res?: unknown) => void;
type GenericClient = grpc.Client &
  Record<string, (req: unknown, opts: grpc.CallOptions, cb: Callback) => void>;

/** The cold RPCs via a proto-loader generic client (camelCase, enums as names, int64 as numbers). */
export class ColdClient {
  readonly client: GenericClient;

  constructor(address: string) {
    const def = protoLoader.loadSync("inference/grpc_service.proto", {
      includeDirs: [PROTO_DIR],
      keepCase: false,
      longs: Number,
      enums: String,
      defaults: true,
    });
    const pkg = grpc.loadPackageDefinition(def) as unknown as {
      inference: {
        GRPCInferenceService: new (address: string, creds: grpc.ChannelCredentials) => GenericClient;
      };
    };
    this.client = new pkg.inference.GRPCInferenceService(address, grpc.credentials.createInsecure());
  }

  call<T = Record<string, unknown>>(method: string, req: unknown = {}): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const fn = this.client[method];
      if (!fn) throw new Error(`no method ${method}`);
      fn.call(this.client, req, { deadline: Date.now() + 10_000 }, (err, res) =>
        err ? reject(err) : resolve(res as T),
      );
    });
  }

  close(): void {
    this.client.close();
  }
}

/** Polls `predicate` (real time) until it holds; fails after a generous bound. */
export async function waitFor(predicate: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const start = Date.now();
  while (!predicate()) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
