import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { ReflectionService } from "@grpc/reflection";
import { HealthImplementation, protoPath as healthProtoPath } from "grpc-health-check";
import {
  DeferredScoreRequest,
  decodeScoreResponse,
  encodeScoreRequest,
  encodeScoreResponse,
  type ScoreRequestMessage,
  type ScoreResponseMessage,
} from "../codec/index.js";
import type { Pipeline } from "../pipeline.js";
import type { Authenticator } from "../security/authenticator.js";
import { acceptTraceHeaders, TRACEPARENT, TRACESTATE, type TraceHeaders } from "../tracing/trace-headers.js";
import { CallCancellation } from "../util/cancel-signal.js";
import type { Clock } from "../util/clock.js";
import { GatewayError } from "../util/gateway-error.js";
import { PROTO_DIR } from "../util/proto-path.js";
import { toGrpcStatus } from "./errors.js";

export const SCORE_SERVICE = "relevance.v1.RelevanceService";

/**
 * A request body that is not a valid ScoreRequest. grpc-js would answer a
 * throwing deserializer with INTERNAL; the client sent bad input, so the
 * handler answers INVALID_ARGUMENT instead.
 */
export class MalformedRequest {
  constructor(readonly reason: string) {}
}

/** Documents are decoded by the pipeline, after a load refusal (see DeferredScoreRequest). */
function decodeRequestOrMalformed(b: Buffer): ScoreRequestMessage | MalformedRequest {
  try {
    return new DeferredScoreRequest(b);
  } catch (err) {
    return new MalformedRequest(err instanceof Error ? err.message : String(err));
  }
}

/** The Score method with the hand-written codec (proto-loader's reflection codec is the largest avoidable cost). */
export const scoreServiceDefinition: grpc.ServiceDefinition = {
  Score: {
    path: `/${SCORE_SERVICE}/Score`,
    requestStream: false,
    responseStream: false,
    requestSerialize: (m: ScoreRequestMessage) => encodeScoreRequest(m),
    requestDeserialize: decodeRequestOrMalformed,
    responseSerialize: (m: ScoreResponseMessage) => encodeScoreResponse(m),
    responseDeserialize: (b: Buffer) => decodeScoreResponse(b),
    originalName: "score",
  },
};

export interface GrpcServerOptions {
  readonly maxReceiveMessageBytes: number;
  readonly maxSendMessageBytes: number;
  readonly keepaliveTimeMs: number;
  readonly keepaliveTimeoutMs: number;
  readonly minClientPingIntervalMs: number;
}

export interface GrpcServer {
  readonly server: grpc.Server;
  readonly health: HealthImplementation;
  /** Sets the overall and the RelevanceService health status. */
  setServing(serving: boolean): void;
}

/**
 * The public gRPC server: RelevanceService, grpc.health.v1.Health (overall
 * and per service) and server reflection (v1 and v1alpha).
 */
export function createGrpcServer(
  pipeline: Pipeline,
  clock: Clock,
  opts: GrpcServerOptions,
  auth: Authenticator,
): GrpcServer {
  const server = new grpc.Server({
    "grpc.max_receive_message_length": opts.maxReceiveMessageBytes,
    "grpc.max_send_message_length": opts.maxSendMessageBytes,
    "grpc.keepalive_time_ms": opts.keepaliveTimeMs,
    "grpc.keepalive_timeout_ms": opts.keepaliveTimeoutMs,
    "grpc.http2.min_ping_interval_without_data_ms": opts.minClientPingIntervalMs,
    // channelz (grpc's introspection service, which this server does not
    // serve) would otherwise track every call: timestamps and counters per
    // call and per session, a few percent of the CPU at low load.
    "grpc.enable_channelz": 0,
  });

  server.addService(scoreServiceDefinition, {
    Score: function score(
      call: grpc.ServerUnaryCall<ScoreRequestMessage | MalformedRequest, ScoreResponseMessage>,
      callback: grpc.sendUnaryData<ScoreResponseMessage>,
    ) {
      // Who is calling, before anything else: one metadata lookup; the certificate only when configured.
      const client = auth.authenticate(call.metadata.get(AUTHORIZATION), call);
      if (client instanceof GatewayError) {
        callback(toGrpcStatus(pipeline.refused(client)));
        return;
      }
      if (call.request instanceof MalformedRequest) {
        callback(toGrpcStatus(pipeline.malformed(call.request.reason, client)));
        return;
      }
      const cancellation = new CallCancellation();
      let answered = false;
      // grpc-js emits "cancelled" whenever the stream closes, also after a
      // normal answer; only a cancel before the answer concerns the request.
      call.once("cancelled", () => {
        if (!answered) cancellation.abort();
      });
      pipeline
        .score(call.request, {
          signal: cancellation,
          deadlineMs: toClockDeadline(call.getDeadline(), clock),
          traceHeaders: incomingTraceHeaders(call.metadata),
          client,
        })
        .then(
          (response) => {
            answered = true;
            callback(null, response);
          },
          (err: unknown) => {
            answered = true;
            callback(toGrpcStatus(err));
          },
        );
    },
  });

  const health = new HealthImplementation({ "": "NOT_SERVING", [SCORE_SERVICE]: "NOT_SERVING" });
  health.addToServer(server);

  const reflectionPackage = protoLoader.loadSync(
    [join(PROTO_DIR, "relevance/v1/relevance.proto"), healthProtoPath],
    {
      includeDirs: [PROTO_DIR],
    },
  );
  new ReflectionService(reflectionPackage).addToServer(server);

  return {
    server,
    health,
    setServing(serving) {
      const s = serving ? "SERVING" : "NOT_SERVING";
      health.setStatus("", s);
      health.setStatus(SCORE_SERVICE, s);
    },
  };
}

const AUTHORIZATION = "authorization";

/**
 * The client's W3C trace context: one metadata lookup when it sent none (the
 * common case); otherwise a shape check, and the values as sent.
 */
function incomingTraceHeaders(metadata: grpc.Metadata): TraceHeaders | undefined {
  const parent = metadata.get(TRACEPARENT);
  if (parent.length !== 1 || typeof parent[0] !== "string") return undefined;
  const state = metadata.get(TRACESTATE);
  // Several tracestate headers are one list (W3C); grpc-js keeps them apart.
  return acceptTraceHeaders(parent[0], state.length === 0 ? undefined : state.join(","));
}

/** The client's deadline (wall clock) as clock time; undefined when the client sent none. */
function toClockDeadline(deadline: grpc.Deadline, clock: Clock): number | undefined {
  const wallMs = deadline instanceof Date ? deadline.getTime() : deadline;
  if (!Number.isFinite(wallMs)) return undefined;
  return clock.now() + (wallMs - Date.now());
}

/** Listens on host:port with `credentials` (default plaintext; security/tls.ts builds TLS ones). */
export function bindServer(
  server: grpc.Server,
  host: string,
  port: number,
  credentials: grpc.ServerCredentials = grpc.ServerCredentials.createInsecure(),
): Promise<number> {
  return new Promise((resolve, reject) => {
    server.bindAsync(`${host.includes(":") ? `[${host}]` : host}:${port}`, credentials, (err, bound) =>
      err ? reject(err) : resolve(bound),
    );
  });
}
