import { z } from "zod";
import { TRITON_DEFAULTS } from "../backends/triton/defaults.js";
import { checkTritonEndpoint } from "../backends/triton/target.js";
import { VLLM_DEFAULTS } from "../backends/vllm/defaults.js";
import { checkVllmEndpoint } from "../backends/vllm/target.js";
import { int, MAX_GRPC_MESSAGE_BYTES, MiB, timerMs } from "./schema-helpers.js";
import { tritonTlsSchema, vllmApiKeyShape, vllmTlsSchema } from "./tls-schema.js";

/** What a backend's answers are used as: bulk traffic (student) or reference scores (teacher). */
export const BACKEND_ROLES = ["student", "teacher"] as const;

interface BatchingDefaults {
  readonly maxBatchSize: number;
  readonly maxQueueDelayMs: number;
  readonly maxQueueItems: number;
  readonly maxConcurrentBatches: number;
}

/**
 * The dynamic batcher of one backend. Both kinds share the shape; the
 * defaults differ because a small student model on Triton wants large batches
 * and short waits, and an 8B teacher on vLLM smaller batches with more of them
 * in flight (vLLM schedules them continuously).
 */
function batchingSchema(defaults: BatchingDefaults) {
  return z
    .object({
      maxBatchSize: int().min(1).max(65536).default(defaults.maxBatchSize),
      maxQueueDelayMs: z.number().min(0).max(10_000).default(defaults.maxQueueDelayMs),
      preferredBatchSizes: z.array(int().min(1)).readonly().prefault([]),
      // A memory guard sized far above normal bursts: the queue is bounded by time (maxQueueWaitMs and
      // the requests' deadlines against the predicted wait), not by this count.
      maxQueueItems: int().min(1).default(defaults.maxQueueItems),
      // The longest predicted wait a request may queue for, with or without a deadline; null: deadlines only.
      maxQueueWaitMs: z.number().positive().max(3_600_000).nullable().default(10_000),
      // Items one client may have queued at once (every band); null: no cap of its own.
      maxQueueItemsPerClient: int().min(1).nullable().default(null),
      maxConcurrentBatches: int().min(1).default(defaults.maxConcurrentBatches),
      // The share of every batch the bulk and background bands are owed while they have items queued,
      // even when a band above has items too (0: served only when the bands above are empty).
      bandMinShare: z
        .object({
          bulk: z.number().min(0).max(0.9).default(0),
          background: z.number().min(0).max(0.9).default(0),
        })
        .strict()
        .readonly()
        .prefault({}),
      // static: the caps above are the batch size and wait. adaptive: the batcher
      // chooses both within the caps to keep request latency under targetLatencyMs.
      mode: z.enum(["static", "adaptive"]).default("static"),
      targetLatencyMs: z.number().positive().max(60_000).optional(),
    })
    .strict()
    .superRefine((b, ctx) => {
      if (b.mode === "adaptive" && b.targetLatencyMs === undefined) {
        ctx.addIssue({
          code: "custom",
          path: ["targetLatencyMs"],
          input: b.targetLatencyMs,
          message: "is required when mode is adaptive (the request latency the batcher keeps under, in ms)",
        });
      }
      b.preferredBatchSizes.forEach((size, i) => {
        const path = ["preferredBatchSizes", i];
        if (size > b.maxBatchSize) {
          ctx.addIssue({
            code: "custom",
            path,
            input: size,
            message: `${size} is larger than maxBatchSize (${b.maxBatchSize})`,
          });
        }
        const previous = b.preferredBatchSizes[i - 1];
        if (previous !== undefined && size <= previous) {
          ctx.addIssue({
            code: "custom",
            path,
            input: size,
            message: `must be larger than the size before it (${previous}); list sizes in increasing order`,
          });
        }
      });
    })
    .readonly();
}

function readinessSchema(defaults: { readonly intervalMs: number; readonly timeoutMs: number }) {
  return z
    .object({
      intervalMs: timerMs().min(10).default(defaults.intervalMs),
      timeoutMs: timerMs().min(1).default(defaults.timeoutMs),
    })
    .strict()
    .superRefine((r, ctx) => {
      // A probe outliving its interval would pile up probes on a hung server.
      if (r.timeoutMs > r.intervalMs) {
        ctx.addIssue({
          code: "custom",
          path: ["timeoutMs"],
          input: r.timeoutMs,
          message: `must be ≤ intervalMs (${r.intervalMs})`,
        });
      }
    })
    .readonly();
}

/**
 * Re-resolution of the endpoints that name a DNS name to resolve
 * (triton `dns:///`, vllm `dns+http(s)://`); other endpoints ignore it.
 */
const discoverySchema = z
  .object({ intervalMs: timerMs().min(100).default(30_000) })
  .strict()
  .readonly();

/** One circuit breaker per endpoint (opossum). */
const breakerSchema = z
  .object({
    errorThresholdPercentage: z.number().min(1).max(100).default(50),
    volumeThreshold: int().min(1).default(10),
    resetTimeoutMs: timerMs().min(10).default(5000),
    rollingWindowMs: timerMs().min(100).default(10_000),
  })
  .strict()
  .readonly();

/** Envoy-style outlier ejection across a backend's endpoints. */
const outlierSchema = z
  .object({
    consecutiveFailures: int().min(1).default(5),
    baseEjectionTimeMs: timerMs().min(10).default(10_000),
    maxEjectionTimeMs: timerMs().min(10).default(300_000),
    maxEjectionPercent: z.number().min(0).max(100).default(50),
  })
  .strict()
  .readonly();

/** A failed batch is retried once on another endpoint, within a budget. */
const retrySchema = z
  .object({
    enabled: z.boolean().default(true),
    budgetPercent: z.number().min(0).max(100).default(20),
    minRetries: int().min(0).default(3),
    windowMs: timerMs().min(100).default(10_000),
  })
  .strict()
  .readonly();

/**
 * The score cache's shared tier: a Valkey or Redis server that replicas read
 * and fill, each call bounded by `timeoutMs` and guarded by a breaker of its
 * own, so a slow or dead server costs a request at most the timeout.
 */
const sharedCacheSchema = z
  .object({
    url: z.string().refine((url) => /^rediss?:\/\/[^/?#\s]+/.test(url) && URL.canParse(url), {
      error: "must be a redis:// or rediss:// URL, e.g. redis://127.0.0.1:6379",
    }),
    timeoutMs: timerMs().min(1).max(10_000).default(20),
    keyPrefix: z.string().max(200).default("rg:"),
    breaker: breakerSchema.prefault({}),
  })
  .strict()
  .readonly();

/**
 * The score cache in front of the backend's batcher: pairs already scored by
 * the same model are answered from memory, and identical pairs queued or in
 * flight share one backend item. Off by default; both keys change live.
 */
const cacheSchema = z
  .object({
    /** Bytes the in-process tier may hold (about 272 per pair); 0 turns the cache, coalescing included, off. */
    maxBytes: int()
      .min(0)
      .default(0)
      .refine((v) => v === 0 || v >= 65_536, { error: "must be 0 (off) or at least 65536" }),
    /** How long a cached score may answer after it was scored; 0: until evicted or the model changes. */
    ttlMs: int().min(0).default(3_600_000),
    /** A Valkey/Redis server shared by the replicas (absent: no shared tier). Changes need a restart. */
    shared: sharedCacheSchema.optional(),
  })
  .strict()
  .readonly();

/** Resilience keys shared by both backend kinds. */
const resilienceShape = {
  breaker: breakerSchema.prefault({}),
  outlierDetection: outlierSchema.prefault({}),
  retry: retrySchema.prefault({}),
  /** Reject at once requests that the queue ahead of them makes miss their deadline. */
  shedUnreachableDeadlines: z.boolean().default(true),
  cache: cacheSchema.prefault({}),
};

function endpointsSchema(check: (endpoint: string) => string | undefined) {
  return z
    .array(
      z.string().superRefine((endpoint, ctx) => {
        const problem = check(endpoint);
        if (problem !== undefined) ctx.addIssue({ code: "custom", input: endpoint, message: problem });
      }),
    )
    .min(1)
    .superRefine((endpoints, ctx) => {
      endpoints.forEach((endpoint, i) => {
        const first = endpoints.indexOf(endpoint);
        if (first !== i) {
          ctx.addIssue({
            code: "custom",
            path: [i],
            input: endpoint,
            message: `duplicate of endpoints[${first}]`,
          });
        }
      });
    })
    .readonly();
}

const tensorName = z.string().min(1);

/** A teacher input template: `{query}` and `{document}` each exactly once. */
const pairTemplate = z.string().superRefine((text, ctx) => {
  for (const slot of ["{query}", "{document}"]) {
    const count = text.split(slot).length - 1;
    if (count !== 1) {
      ctx.addIssue({
        code: "custom",
        input: text,
        message: `must contain ${slot} exactly once (found ${count})`,
      });
    }
  }
});

/** A Triton Inference Server model, spoken to over KServe v2 gRPC. */
export const tritonBackendSchema = z
  .object({
    kind: z.literal("triton"),
    endpoints: endpointsSchema(checkTritonEndpoint),
    model: z.string().min(1),
    modelVersion: z
      .string()
      .regex(/^(?:[1-9][0-9]*)?$/, {
        error: 'must be "" (the server\'s version policy) or a positive integer',
      })
      .default(TRITON_DEFAULTS.modelVersion),
    role: z.enum(BACKEND_ROLES).default(TRITON_DEFAULTS.role),
    timeoutMs: timerMs().min(1).default(TRITON_DEFAULTS.timeoutMs),
    readiness: readinessSchema(TRITON_DEFAULTS.readiness).prefault({}),
    discovery: discoverySchema.prefault({}),
    ...resilienceShape,
    batching: batchingSchema(TRITON_DEFAULTS.batching).prefault({}),
    tensors: z
      .object({
        query: tensorName.default(TRITON_DEFAULTS.tensors.query),
        document: tensorName.default(TRITON_DEFAULTS.tensors.document),
        output: tensorName.default(TRITON_DEFAULTS.tensors.output),
      })
      .strict()
      .readonly()
      .prefault({}),
    outputKind: z.enum(["logits", "probabilities"]).default(TRITON_DEFAULTS.outputKind),
    // The `priority` request parameter each band's batches are sent with, a batch at its highest band's:
    // Triton's dynamic batcher serves lower levels first, across every replica's batches. 0, or a level
    // above the model's priority_levels, is the model's default level. null: no priority sent.
    bandPriorities: z
      .object({
        interactive: int().min(0).default(TRITON_DEFAULTS.bandPriorities.interactive),
        bulk: int().min(0).default(TRITON_DEFAULTS.bandPriorities.bulk),
        background: int().min(0).default(TRITON_DEFAULTS.bandPriorities.background),
      })
      .strict()
      .readonly()
      .nullable()
      .prefault({}),
    maxMessageBytes: int().min(1024).max(MAX_GRPC_MESSAGE_BYTES).default(TRITON_DEFAULTS.maxMessageBytes),
    tls: tritonTlsSchema,
  })
  .strict()
  .readonly();

/** A vLLM server, spoken to over its OpenAI-compatible HTTP API. */
export const vllmBackendSchema = z
  .object({
    kind: z.literal("vllm"),
    endpoints: endpointsSchema(checkVllmEndpoint),
    model: z.string().min(1),
    mode: z.enum(["classify", "generate"]).default(VLLM_DEFAULTS.mode),
    templates: z
      .object({
        classify: pairTemplate.default(VLLM_DEFAULTS.classifyTemplate),
        generate: pairTemplate.default(VLLM_DEFAULTS.generateTemplate),
      })
      .strict()
      .readonly()
      .prefault({}),
    labelTokens: z
      .array(z.string().min(1))
      .length(5)
      .readonly()
      .prefault([...VLLM_DEFAULTS.labelTokens]),
    topLogprobs: int().min(5).max(20).default(VLLM_DEFAULTS.topLogprobs),
    maxInputTokens: int().min(1).optional(),
    role: z.enum(BACKEND_ROLES).default(VLLM_DEFAULTS.role),
    timeoutMs: timerMs().min(1).default(VLLM_DEFAULTS.timeoutMs),
    readiness: readinessSchema(VLLM_DEFAULTS.readiness).prefault({}),
    discovery: discoverySchema.prefault({}),
    ...resilienceShape,
    batching: batchingSchema(VLLM_DEFAULTS.batching).prefault({}),
    // Largest response body read, like Triton's maxMessageBytes: a server (or a proxy in front of it)
    // that answers more, or never stops, fails the call instead of filling the gateway's memory.
    // 256 MiB stays well below the longest string V8 can hold (the body is read as text).
    maxResponseBytes: int()
      .min(1024)
      .max(256 * MiB)
      .default(VLLM_DEFAULTS.maxResponseBytes),
    // vLLM's `priority` each band's batches are sent with, a batch at its highest band's: lower values
    // are scheduled first. Needs a server started with --scheduling-policy priority (under its default
    // first-come policy vLLM answers any priority but 0 with a 400). null (default): none sent.
    bandPriorities: z
      .object({
        interactive: int().default(VLLM_DEFAULTS.bandPriorities.interactive),
        bulk: int().default(VLLM_DEFAULTS.bandPriorities.bulk),
        background: int().default(VLLM_DEFAULTS.bandPriorities.background),
      })
      .strict()
      .readonly()
      .nullable()
      .default(null),
    tls: vllmTlsSchema,
    ...vllmApiKeyShape,
  })
  .strict()
  .superRefine((b, ctx) => {
    if (b.apiKeyEnv !== null && b.apiKeyFile !== null) {
      ctx.addIssue({
        code: "custom",
        path: ["apiKeyFile"],
        input: b.apiKeyFile,
        message: "set apiKeyEnv or apiKeyFile, not both",
      });
    }
    // A CA for https that no endpoint uses means the operator believes the traffic is encrypted.
    if (b.tls !== null && !b.endpoints.some((e) => /^(dns\+)?https:/.test(e))) {
      ctx.addIssue({
        code: "custom",
        path: ["tls"],
        input: b.tls,
        message: "applies to https:// endpoints, but every endpoint is http://",
      });
    }
  })
  .readonly();

export const backendSchema = z.discriminatedUnion("kind", [tritonBackendSchema, vllmBackendSchema]);

/** Backend names appear in metrics labels and routing rules, so they stay simple. */
export const BACKEND_NAME = /^[a-z][a-z0-9_-]*$/;
