import * as grpc from "@grpc/grpc-js";
import { scoreServiceDefinition } from "../../src/api/server.js";
import type { DocumentMessage, ScoreRequestMessage, ScoreResponseMessage } from "../../src/codec/index.js";

export type ScoreOutcome =
  | { ok: true; response: ScoreResponseMessage; elapsedMs: number }
  | { ok: false; code: grpc.status; details: string; metadata: grpc.Metadata; elapsedMs: number };

/**
 * The deadline of a call that sets none. Long enough for any answer on a loaded machine, short
 * enough that a lost answer fails its test with DEADLINE_EXCEEDED in seconds rather than at tap's
 * 300 s timeout. A test that expects a longer wait passes `deadlineMs` (Infinity: no deadline).
 */
export const DEFAULT_DEADLINE_MS = 15_000;

/** A plain grpc-js client of RelevanceService (the hand-written codec on the client side too). */
export class ScoreClient {
  readonly client: grpc.Client;
  readonly defaultDeadlineMs: number;

  constructor(target: string, opts: { defaultDeadlineMs?: number } = {}) {
    this.client = new grpc.Client(target, grpc.credentials.createInsecure());
    this.defaultDeadlineMs = opts.defaultDeadlineMs ?? DEFAULT_DEADLINE_MS;
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
    const deadlineMs = opts.deadlineMs ?? this.defaultDeadlineMs;
    const started = performance.now();
    return new Promise((resolve) => {
      this.client.makeUnaryRequest(
        method.path,
        method.requestSerialize,
        method.responseDeserialize,
        full,
        new grpc.Metadata(),
        deadlineMs === Number.POSITIVE_INFINITY ? {} : { deadline: Date.now() + deadlineMs },
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
