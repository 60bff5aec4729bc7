import type {
  BackendEndpoint,
  CallContext,
  EndpointState,
  InferBatch,
  InferResult,
} from "../../src/backends/backend-client.js";
import type { GatewayError } from "../../src/util/gateway-error.js";

export interface PendingCall {
  readonly batch: InferBatch;
  readonly ctx: CallContext;
  /** Answers with rowFor() of each document. */
  answer(): void;
  fail(err: unknown): void;
}

/** Probabilities derived from the document text "…#<n>", so reassembly can be checked. */
export function rowFor(document: string): number[] {
  const n = Number(document.slice(document.lastIndexOf("#") + 1));
  return [0, 1, 2, 3, 4].map((k) => Math.fround(n + k / 10));
}

/** A batcher test double: records every batch and lets the test answer it. */
export class ManualEndpoint implements BackendEndpoint {
  readonly id: string;
  state: EndpointState = "ready";
  /** Set by a test to play a half-open breaker's trial in flight. */
  onTrial = false;
  maxBatchSize: number | undefined;
  readonly calls: PendingCall[] = [];
  /** Every call received, answered or not (`calls` is the test's to consume). */
  received = 0;
  /** Failures the batcher reported against this endpoint (`reportFault`). */
  readonly faults: GatewayError[] = [];

  constructor(id = "ep-a", maxBatchSize?: number) {
    this.id = id;
    this.maxBatchSize = maxBatchSize;
  }

  infer(batch: InferBatch, ctx: CallContext): Promise<InferResult> {
    this.received++;
    return new Promise((resolve, reject) => {
      this.calls.push({
        batch,
        ctx,
        answer() {
          const probabilities = new Float32Array(batch.documents.length * 5);
          batch.documents.forEach((d, i) => {
            probabilities.set(rowFor(d), i * 5);
          });
          resolve({ probabilities, model: { name: "m", version: "1" } });
        },
        fail: reject,
      });
    });
  }

  reportFault(error: GatewayError): void {
    this.faults.push(error);
  }

  /** Sizes of the batches received so far. */
  get sizes(): number[] {
    return this.calls.map((c) => c.batch.documents.length);
  }
}

export function docs(prefix: string, from: number, count: number): string[] {
  return Array.from({ length: count }, (_, i) => `${prefix}#${from + i}`);
}
