import { z } from "zod";
import { authSchema, checkAuthReferences } from "./auth-schema.js";
import {
  BACKEND_NAME,
  backendSchema,
  type tritonBackendSchema,
  type vllmBackendSchema,
} from "./backend-schema.js";
import { modelTextSchema } from "./model-text-schema.js";
import { int, MAX_GRPC_MESSAGE_BYTES, MiB, timerMs } from "./schema-helpers.js";
import { serverTlsSchema } from "./tls-schema.js";

/**
 * The gateway's configuration schema. Every object is strict (an unknown key
 * is an error naming its path, so a typo cannot pass silently) and every key
 * outside DESIGN's example has a default, so that example is a complete
 * configuration. docs/configuration.md documents each key; keep the two in step.
 */

/** pino's levels; `silent` turns logging off. */
export const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

const host = z.string().min(1);
// 0 asks the OS for a free port; tests rely on it.
const listenPort = int().min(0).max(65535);

const serverSchema = z
  .object({
    grpc: z
      .object({
        host: host.default("0.0.0.0"),
        port: listenPort.default(50051),
        maxReceiveMessageBytes: int()
          .min(1024)
          .max(MAX_GRPC_MESSAGE_BYTES)
          .default(16 * MiB),
        maxSendMessageBytes: int()
          .min(1024)
          .max(MAX_GRPC_MESSAGE_BYTES)
          .default(16 * MiB),
        keepaliveTimeMs: timerMs().min(1000).default(60_000),
        keepaliveTimeoutMs: timerMs().min(1).default(20_000),
        minClientPingIntervalMs: timerMs().min(0).default(10_000),
        // null (the default) serves plaintext; see tls-schema.ts.
        tls: serverTlsSchema,
      })
      .strict()
      .readonly()
      .prefault({}),
    admin: z
      .object({
        host: host.default("0.0.0.0"),
        port: listenPort.default(8080),
        // The bearer token of the admin API's writes, from a file (a mounted Secret); the
        // RELEVANCE_GATEWAY_ADMIN_TOKEN variable takes precedence. Neither set: writes are disabled.
        tokenFile: z.string().min(1).nullable().default(null),
        // null (the default) serves plain HTTP; the same block as server.grpc.tls.
        tls: serverTlsSchema,
      })
      .strict()
      .readonly()
      .prefault({}),
    shutdownGraceMs: timerMs().min(0).default(10_000),
    // Reloading the config file (serve --config): always on SIGHUP; also when the file changes
    // on disk (a Kubernetes ConfigMap update) if watchFile. Only live-changeable keys apply.
    reload: z
      .object({ watchFile: z.boolean().default(true), debounceMs: int().min(0).max(60_000).default(500) })
      .strict()
      .readonly()
      .prefault({}),
  })
  .strict()
  .superRefine((s, ctx) => {
    if (s.admin.port !== 0 && s.admin.port === s.grpc.port) {
      ctx.addIssue({
        code: "custom",
        path: ["admin", "port"],
        input: s.admin.port,
        message: `must differ from server.grpc.port (${s.grpc.port})`,
      });
    }
  })
  .readonly();

const backendRef = z.string().min(1);

/** A sticky percentage of traffic, chosen by hashing the routing key with `salt`. */
function sampleSchema<Extra extends z.ZodRawShape>(defaultSalt: string, extra: Extra) {
  return z
    .object({
      backend: backendRef,
      percent: z.number().min(0).max(100),
      salt: z.string().min(1).default(defaultSalt),
      ...extra,
    })
    .strict()
    .readonly();
}

const routingSchema = z
  .object({
    default: backendRef.default("student"),
    canary: sampleSchema("canary", {
      // A canary is a sample: when its backend is unavailable, the default backend answers instead.
      fallback: z.boolean().default(true),
    }).optional(),
    shadow: sampleSchema("shadow", {
      // The shadow path's own bounds: it is shed before it can touch the primary path.
      maxQueueItems: int().min(1).default(2048),
      maxConcurrentBatches: int().min(1).default(2),
      timeoutMs: timerMs().min(1).default(30_000),
      noiseFloorPercent: z.number().min(0).max(100).default(0),
      topK: int().min(1).max(1000).default(10),
    }).optional(),
    experiments: z
      .array(
        z
          .object({
            name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, {
              error: "must start with a letter or digit and contain only letters, digits, '.', '_' or '-'",
            }),
            backend: backendRef,
            // An experiment asks for its backend: by default its requests fail rather than silently get another model.
            fallback: z.boolean().default(false),
          })
          .strict()
          .readonly(),
      )
      .readonly()
      .prefault([]),
    allowForcedTeacher: z.boolean().default(true),
  })
  .strict()
  .superRefine((r, ctx) => {
    r.experiments.forEach((e, i) => {
      const first = r.experiments.findIndex((other) => other.name === e.name);
      if (first !== i) {
        ctx.addIssue({
          code: "custom",
          path: ["experiments", i, "name"],
          input: e.name,
          message: `"${e.name}" is already defined at routing.experiments[${first}]`,
        });
      }
    });
    // Same salt, same hash: the canary cohort would sit inside the shadow cohort.
    if (r.canary !== undefined && r.shadow !== undefined && r.canary.salt === r.shadow.salt) {
      ctx.addIssue({
        code: "custom",
        path: ["shadow", "salt"],
        input: r.shadow.salt,
        message: "must differ from routing.canary.salt so the canary and shadow cohorts are independent",
      });
    }
  })
  .readonly();

const limitsSchema = z
  .object({
    maxDocumentsPerRequest: int().min(1).max(100_000).default(1000),
    maxFieldBytes: int()
      .min(1)
      .default(64 * 1024),
    maxRequestTextBytes: int()
      .min(1)
      .default(8 * MiB),
  })
  .strict()
  .superRefine((l, ctx) => {
    if (l.maxFieldBytes > l.maxRequestTextBytes) {
      ctx.addIssue({
        code: "custom",
        path: ["maxFieldBytes"],
        input: l.maxFieldBytes,
        message: `must be ≤ limits.maxRequestTextBytes (${l.maxRequestTextBytes})`,
      });
    }
  })
  .readonly();

const backendsSchema = z
  .record(
    z.string().regex(BACKEND_NAME, {
      error: `backend names must match ${BACKEND_NAME} (lower-case letter first, then lower-case letters, digits, '_' or '-')`,
    }),
    backendSchema,
  )
  .superRefine((backends, ctx) => {
    if (Object.keys(backends).length === 0) {
      ctx.addIssue({ code: "custom", input: backends, message: "at least one backend is required" });
    }
  })
  .readonly();

// ---- tracing ----

/** An OTLP/HTTP URL: http or https, no credentials (the effective config is printed and logged). */
function checkOtlpEndpoint(endpoint: string): string | undefined {
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    return `"${endpoint}" must be an http:// or https:// URL`;
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    return `"${endpoint}" must be an http:// or https:// URL`;
  }
  if (url.username !== "" || url.password !== "") return `"${endpoint}" must not contain credentials`;
  return undefined;
}

/** An HTTP field name (RFC 9110 token). */
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

const tracingSchema = z
  .object({
    enabled: z.boolean().default(false),
    otlpEndpoint: z
      .string()
      .superRefine((endpoint, ctx) => {
        const problem = checkOtlpEndpoint(endpoint);
        if (problem !== undefined) ctx.addIssue({ code: "custom", input: endpoint, message: problem });
      })
      .default("http://127.0.0.1:4318/v1/traces"),
    serviceName: z.string().min(1).default("relevance-gateway"),
    // New traces only: a client's sampled context is always followed, an unsampled one never.
    sampleRatio: z.number().min(0).max(1).default(1),
    exportTimeoutMs: int().min(1).max(120_000).default(10_000),
    exportIntervalMs: int().min(10).max(600_000).default(5_000),
    maxQueueSpans: int().min(1).max(1_000_000).default(2048),
    headers: z
      .record(
        z.string().regex(HEADER_NAME, { error: "header names are letters, digits and !#$%&'*+.^_`|~-" }),
        z.string().regex(/^[\x20-\x7e]*$/, { error: "header values are printable ASCII" }),
      )
      .superRefine((headers, ctx) => {
        for (const name of Object.keys(headers)) {
          if (name.toLowerCase() === "authorization") {
            ctx.addIssue({
              code: "custom",
              path: [name],
              input: name,
              message:
                "credentials do not belong in the config (it is printed and logged); " +
                "set OTEL_EXPORTER_OTLP_TRACES_HEADERS instead",
            });
          }
        }
      })
      .readonly()
      .prefault({}),
  })
  .strict()
  .readonly();

export const gatewayConfigSchema = z
  .object({
    server: serverSchema.prefault({}),
    backends: backendsSchema,
    routing: routingSchema.prefault({}),
    limits: limitsSchema.prefault({}),
    modelText: modelTextSchema.prefault({}),
    logging: z
      .object({ level: z.enum(LOG_LEVELS).default("info") })
      .strict()
      .readonly()
      .prefault({}),
    comparisonLog: z
      .object({
        /** Directory of the JSON Lines comparison log; null (the default) disables it. */
        dir: z.string().min(1).nullable().default(null),
        sampleRate: z.number().min(0).max(1).default(1),
        maxFileBytes: int()
          .min(1024)
          .default(64 * MiB),
        maxFiles: int().min(1).default(8),
        maxQueuedRecords: int().min(1).default(1000),
        redactText: z.boolean().default(false),
      })
      .strict()
      .readonly()
      .prefault({}),
    metrics: z
      .object({ collectDefault: z.boolean().default(true) })
      .strict()
      .readonly()
      .prefault({}),
    tracing: tracingSchema.prefault({}),
    auth: authSchema.prefault({}),
  })
  .strict()
  .superRefine((cfg, ctx) => {
    const names = Object.keys(cfg.backends);
    // With no backends at all, that is the one error worth reporting.
    if (names.length === 0) return;
    const checkRef = (path: (string | number)[], name: string) => {
      if (!names.includes(name)) {
        ctx.addIssue({
          code: "custom",
          path,
          input: name,
          message: `"${name}" is not a configured backend (configured: ${names.join(", ")})`,
        });
      }
    };
    checkRef(["routing", "default"], cfg.routing.default);
    if (cfg.routing.canary) checkRef(["routing", "canary", "backend"], cfg.routing.canary.backend);
    if (cfg.routing.shadow) checkRef(["routing", "shadow", "backend"], cfg.routing.shadow.backend);
    cfg.routing.experiments.forEach((e, i) => {
      checkRef(["routing", "experiments", i, "backend"], e.backend);
    });
    checkAuthReferences(cfg, ctx);
  })
  .readonly();

/** The validated, fully defaulted configuration; deeply readonly (and frozen at run time). */
export type GatewayConfig = z.output<typeof gatewayConfigSchema>;
export type ServerConfig = GatewayConfig["server"];
export type BackendConfig = GatewayConfig["backends"][string];
export type TritonBackendConfig = z.output<typeof tritonBackendSchema>;
export type VllmBackendConfig = z.output<typeof vllmBackendSchema>;
export type BackendRole = BackendConfig["role"];
export type BatchingConfig = BackendConfig["batching"];
export type RoutingConfig = GatewayConfig["routing"];
export type SampleConfig = NonNullable<RoutingConfig["canary"]>;
export type ExperimentConfig = RoutingConfig["experiments"][number];
export type LimitsConfig = GatewayConfig["limits"];
export type ModelTextConfig = GatewayConfig["modelText"];
export type ModelTextFieldConfig = ModelTextConfig["fields"][number];
export type LoggingConfig = GatewayConfig["logging"];
export type MetricsConfig = GatewayConfig["metrics"];
export type TracingConfig = GatewayConfig["tracing"];
