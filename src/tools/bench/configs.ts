/** Gateway configs for the scenarios, as `serve --config` reads them (JSON is YAML). */
import { sha256Hex } from "../../security/api-key.js";

export interface BatchingSpec {
  readonly maxBatchSize: number;
  readonly maxQueueDelayMs: number;
  readonly maxConcurrentBatches: number;
  readonly maxQueueItems?: number | undefined;
}

export interface GatewaySpec {
  /** The Triton simulator's "host:port". */
  readonly student: string;
  /** The student's `bandPriorities`; absent, the default (interactive 1, bulk 2, background 3). */
  readonly bandPriorities?: null | undefined;
  /** The student's batcher; absent, the defaults (no `batching` key at all). */
  readonly batching?: BatchingSpec | undefined;
  /** API-key clients (anonymous requests are then refused); absent, anonymous only. */
  readonly clients?: readonly BenchClient[] | undefined;
  /** A vLLM simulator's URL; with `shadowPercent`, the share of student traffic mirrored to it. */
  readonly teacher?: string | undefined;
  readonly shadowPercent?: number | undefined;
  /** The student's score cache; absent, the default (off). */
  readonly cache?:
    | {
        readonly maxBytes: number;
        readonly ttlMs: number;
        /** The shared tier (`cache.shared`): its server's URL and call timeout. */
        readonly shared?: { readonly url: string; readonly timeoutMs?: number | undefined } | undefined;
      }
    | undefined;
}

/** A client identified by its API key, with its fair-share weight. */
export interface BenchClient {
  readonly name: string;
  readonly apiKey: string;
  readonly weight: number;
}

export function gatewayConfig(spec: GatewaySpec): object {
  return {
    // Free ports; no config file watching (one watcher fewer per process, nothing to reload).
    server: {
      grpc: { host: "127.0.0.1", port: 0 },
      admin: { host: "127.0.0.1", port: 0 },
      shutdownGraceMs: 2000,
      reload: { watchFile: false },
    },
    backends: {
      student: {
        kind: "triton",
        endpoints: [spec.student],
        model: "relevance_student",
        ...(spec.bandPriorities === undefined ? {} : { bandPriorities: spec.bandPriorities }),
        ...(spec.batching === undefined ? {} : { batching: { maxQueueItems: 4096, ...spec.batching } }),
        ...(spec.cache === undefined ? {} : { cache: spec.cache }),
      },
      ...(spec.teacher === undefined
        ? {}
        : { teacher: { kind: "vllm", endpoints: [spec.teacher], model: "relevance-teacher" } }),
    },
    routing: {
      default: "student",
      ...(spec.teacher !== undefined && spec.shadowPercent !== undefined
        ? { shadow: { backend: "teacher", percent: spec.shadowPercent } }
        : {}),
    },
    ...(spec.clients === undefined
      ? {}
      : {
          auth: {
            anonymous: false,
            clients: spec.clients.map((c) => ({
              name: c.name,
              apiKeySha256: [sha256Hex(c.apiKey)],
              weight: c.weight,
            })),
          },
        }),
    // As in production: info. Nothing is logged per successful request; "listening" tells the bench the ports.
    logging: { level: "info" },
  };
}

/** Whether a gateway config turns any backend's score cache on (`backends.<name>.cache.maxBytes` > 0). */
export function cacheConfigured(config: object): boolean {
  const backends = (config as { backends?: Record<string, { cache?: { maxBytes?: unknown } }> }).backends;
  return Object.values(backends ?? {}).some((b) => {
    const maxBytes = b?.cache?.maxBytes;
    return typeof maxBytes === "number" && maxBytes > 0;
  });
}
