/** Gateway configs for the scenarios, as `serve --config` reads them (JSON is YAML). */

export interface BatchingSpec {
  readonly maxBatchSize: number;
  readonly maxQueueDelayMs: number;
  readonly maxConcurrentBatches: number;
  readonly maxQueueItems?: number | undefined;
}

export interface GatewaySpec {
  /** The Triton simulator's "host:port". */
  readonly student: string;
  readonly batching: BatchingSpec;
  /** A vLLM simulator's URL; with `shadowPercent`, the share of student traffic mirrored to it. */
  readonly teacher?: string | undefined;
  readonly shadowPercent?: number | undefined;
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
        batching: { maxQueueItems: 4096, ...spec.batching },
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
    // As in production: info. Nothing is logged per successful request; "listening" tells the bench the ports.
    logging: { level: "info" },
  };
}
