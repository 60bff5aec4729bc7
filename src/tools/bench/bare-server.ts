/**
 * The CPU-ceiling scenario's reference: the simplest Score server grpc-js
 * offers, generated from the same proto by proto-loader (protobufjs
 * decode + toObject, fromObject + encode), answering every document with
 * fixed scores and no backend call. What a request costs here is grpc-js,
 * HTTP/2 and a reflection codec; the gateway's figure is compared with it.
 */
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { PROTO_DIR } from "../../util/proto-path.js";

interface BareDocument {
  readonly id: string;
}
interface BareRequest {
  readonly request_id: string;
  readonly documents: readonly BareDocument[];
}
interface BareScore {
  readonly document_id: string;
  readonly probabilities: readonly number[];
  readonly expected_relevance: number;
  readonly label: number;
}
interface BareResponse {
  readonly request_id: string;
  readonly scores: readonly BareScore[];
  readonly model: {
    readonly role: string;
    readonly name: string;
    readonly version: string;
    readonly backend: string;
  };
  readonly route: string;
}

/** grpc-node's documented proto-loader options. */
const LOADER_OPTIONS: protoLoader.Options = {
  keepCase: true,
  longs: String,
  enums: String,
  defaults: true,
  oneofs: true,
  includeDirs: [PROTO_DIR],
};

const PROBABILITIES = [0.05, 0.1, 0.2, 0.4, 0.25];
const MODEL = { role: "MODEL_ROLE_STUDENT", name: "relevance_student", version: "1", backend: "student" };

export interface BareServer {
  readonly port: number;
  close(): Promise<void>;
}

export async function startBareScoreServer(host: string, port: number): Promise<BareServer> {
  const definition = protoLoader.loadSync(join(PROTO_DIR, "relevance/v1/relevance.proto"), LOADER_OPTIONS);
  const proto = grpc.loadPackageDefinition(definition) as unknown as {
    relevance: { v1: { RelevanceService: { service: grpc.ServiceDefinition } } };
  };
  const server = new grpc.Server();
  server.addService(proto.relevance.v1.RelevanceService.service, {
    Score(call: grpc.ServerUnaryCall<BareRequest, BareResponse>, callback: grpc.sendUnaryData<BareResponse>) {
      const request = call.request;
      callback(null, {
        request_id: request.request_id,
        scores: request.documents.map((d) => ({
          document_id: d.id,
          probabilities: PROBABILITIES,
          expected_relevance: 3.7,
          label: 4,
        })),
        model: MODEL,
        route: "bulk",
      });
    },
  });
  const bound = await new Promise<number>((resolve, reject) =>
    server.bindAsync(`${host}:${port}`, grpc.ServerCredentials.createInsecure(), (err, p) =>
      err ? reject(err) : resolve(p),
    ),
  );
  return {
    port: bound,
    close: () => new Promise<void>((resolve) => server.tryShutdown(() => resolve())),
  };
}
