import { randomBytes } from "node:crypto";
import * as grpc from "@grpc/grpc-js";
import { scoreServiceDefinition } from "../../src/api/server.js";
import type { ScoreRequestMessage, ScoreResponseMessage } from "../../src/codec/index.js";
import { silentLogger } from "../../src/observability/logger.js";
import type { TracingOptions } from "../../src/tracing/tracing.js";
import { systemClock } from "../../src/util/clock.js";

/** A client's span: a fresh trace id and span id, and its traceparent. */
export function clientSpan(sampled = true) {
  const traceId = randomBytes(16).toString("hex");
  const spanId = randomBytes(8).toString("hex");
  return { traceId, spanId, traceparent: `00-${traceId}-${spanId}-${sampled ? "01" : "00"}` };
}

/** The parts of a version-00 traceparent. */
export function parseTraceparent(tp: string) {
  const [version, traceId, spanId, flags] = tp.split("-");
  return { version, traceId, spanId, flags };
}

export function tracingOptions(overrides: Partial<TracingOptions> = {}): TracingOptions {
  return {
    enabled: true,
    otlpEndpoint: "http://127.0.0.1:9/v1/traces",
    serviceName: "relevance-gateway-test",
    sampleRatio: 1,
    exportTimeoutMs: 2000,
    exportIntervalMs: 50,
    maxQueueSpans: 2048,
    headers: {},
    ...overrides,
  };
}

export const env = () => ({ logger: silentLogger(), clock: systemClock });

export type TracedOutcome =
  | { ok: true; response: ScoreResponseMessage }
  | { ok: false; code: grpc.status; details: string };

/** Score with the given metadata (traceparent, tracestate) on an existing grpc-js client. */
export function scoreWithMetadata(
  client: grpc.Client,
  request: Partial<ScoreRequestMessage>,
  headers: Record<string, string>,
): Promise<TracedOutcome> {
  const method = scoreServiceDefinition.Score!;
  const full: ScoreRequestMessage = {
    requestId: "",
    query: { text: "chocolate cookies", locale: "en" },
    documents: [],
    routingKey: "",
    experiment: "",
    priority: 0,
    modelPreference: 0,
    ...request,
  };
  const metadata = new grpc.Metadata();
  for (const [k, v] of Object.entries(headers)) metadata.set(k, v);
  return new Promise((resolve) => {
    client.makeUnaryRequest(
      method.path,
      method.requestSerialize,
      method.responseDeserialize,
      full,
      metadata,
      { deadline: Date.now() + 10_000 },
      (err, response) => {
        if (err) resolve({ ok: false, code: err.code, details: err.details });
        else resolve({ ok: true, response: response as ScoreResponseMessage });
      },
    );
  });
}
