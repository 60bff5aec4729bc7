import * as grpc from "@grpc/grpc-js";
import { scoreServiceDefinition } from "../../src/api/server.js";
import type { DocumentMessage, ScoreRequestMessage, ScoreResponseMessage } from "../../src/codec/index.js";

export type ScoreOutcome =
  | { ok: true; response: ScoreResponseMessage; elapsedMs: number }
  | { ok: false; code: grpc.status; details: string; metadata: grpc.Metadata; elapsedMs: number };

/** A plain grpc-js client of RelevanceService (the hand-written codec on the client side too). */
export class ScoreClient {
  readonly client: grpc.Client;

  constructor(target: string) {
    this.client = new grpc.Client(target, grpc.credentials.createInsecure());
  }

  score(request: Partial<ScoreRequestMessage>, opts: { deadlineMs?: number } = {}): Promise<ScoreOutcome> {
    const method = scoreServiceDefinition.Score!;
    const full: ScoreRequestMessage = {
      requestId: "",
      query: undefined,
      documents: [],
      routingKey: "",
      experiment: "",
      priority: 0,
      modelPreference: 0,
      ...request,
    };
    const started = performance.now();
    return new Promise((resolve) => {
      this.client.makeUnaryRequest(
        method.path,
        method.requestSerialize,
        method.responseDeserialize,
        full,
        new grpc.Metadata(),
        opts.deadlineMs === undefined ? {} : { deadline: Date.now() + opts.deadlineMs },
        (err, response) => {
          const elapsedMs = performance.now() - started;
          if (err)
            resolve({ ok: false, code: err.code, details: err.details, metadata: err.metadata, elapsedMs });
          else resolve({ ok: true, response: response as ScoreResponseMessage, elapsedMs });
        },
      );
    });
  }

  close(): void {
    this.client.close();
  }
}

export function doc(id: string, fields: Partial<DocumentMessage> = {}): DocumentMessage {
  return {
    id,
    title: `title of ${id}`,
    description: "",
    imageCaption: "",
    boardTitles: [],
    engagedQueries: [],
    linkText: "",
    locale: "",
    ...fields,
  };
}
