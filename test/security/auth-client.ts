import * as grpc from "@grpc/grpc-js";
import { scoreServiceDefinition } from "../../src/api/server.js";
import type { ScoreRequestMessage } from "../../src/codec/index.js";
import type { ScoreOutcome } from "../helpers/grpc-client.js";

/**
 * A raw grpc-js client of RelevanceService that sends chosen metadata
 * (`authorization`) and channel credentials (TLS, a client certificate):
 * what the identity tests need beyond test/helpers/grpc-client.ts.
 */
export class AuthScoreClient {
  readonly client: grpc.Client;

  constructor(
    target: string,
    credentials = grpc.credentials.createInsecure(),
    options: grpc.ClientOptions = {},
  ) {
    this.client = new grpc.Client(target, credentials, options);
  }

  score(request: Partial<ScoreRequestMessage>, opts: { apiKey?: string; authorization?: string } = {}) {
    const method = scoreServiceDefinition.Score!;
    const full: ScoreRequestMessage = {
      requestId: "",
      query: { text: "red running shoes", locale: "" },
      documents: [],
      routingKey: "",
      experiment: "",
      priority: 0,
      modelPreference: 0,
      ...request,
    };
    const metadata = new grpc.Metadata();
    if (opts.apiKey !== undefined) metadata.set("authorization", `Bearer ${opts.apiKey}`);
    if (opts.authorization !== undefined) metadata.set("authorization", opts.authorization);
    const started = performance.now();
    return new Promise<ScoreOutcome>((resolve) => {
      this.client.makeUnaryRequest(
        method.path,
        method.requestSerialize,
        method.responseDeserialize,
        full,
        metadata,
        { deadline: Date.now() + 10_000 },
        (err, response) => {
          const elapsedMs = performance.now() - started;
          if (err) {
            resolve({ ok: false, code: err.code, details: err.details, metadata: err.metadata, elapsedMs });
          } else resolve({ ok: true, response: response as never, elapsedMs });
        },
      );
    });
  }

  close(): void {
    this.client.close();
  }
}

/** The value of one metric series in Prometheus exposition text, or 0 when absent. */
export function metricValue(text: string, series: string): number {
  const line = text.split("\n").find((l) => l.startsWith(`${series} `));
  return line === undefined ? 0 : Number(line.slice(series.length + 1));
}
