import type { SecurityMetrics } from "../observability/security-metrics.js";
import { quoteClientText } from "../util/client-text.js";
import type { Clock } from "../util/clock.js";
import { GatewayError } from "../util/gateway-error.js";
import { type BucketRate, TokenBucket } from "./token-bucket.js";

/** What a client may do (auth.anonymousPolicy, or the policy keys of an auth.clients entry). */
export interface PolicyOptions {
  readonly mayForceTeacher: boolean;
  /** Experiment names; "*" allows every experiment. */
  readonly experiments: readonly string[];
  /** null: only the global limits.maxDocumentsPerRequest applies (validation checks it). */
  readonly maxDocumentsPerRequest: number | null;
  readonly rateLimit: { readonly documentsPerSecond: number; readonly burstDocuments: number } | null;
  /** Its share of a backend's queue against other clients in the same priority band (default 1). */
  readonly weight?: number | undefined;
}

/** The parts of a validated request a policy looks at. */
export interface AdmissionInput {
  readonly documentCount: number;
  readonly modelPreference: string;
  readonly experiment: string;
}

/**
 * A resolved caller: its name, its policy and its token bucket. One object
 * per configured client (and one for anonymous requests), built when the
 * auth config is applied and shared by all of its requests, so resolving an
 * identity allocates nothing.
 */
export class AuthenticatedClient {
  readonly name: string;
  /** Its weight in the fair sharing of each backend's queue. */
  readonly weight: number;
  /** Nothing to check: any request the global validation accepts is admitted (the anonymous default). */
  readonly unrestricted: boolean;
  readonly bucket: TokenBucket | undefined;
  readonly #policy: PolicyOptions;
  readonly #allExperiments: boolean;
  readonly #experiments: ReadonlySet<string>;
  readonly #counts: Float64Array;
  readonly #metrics: SecurityMetrics;

  constructor(
    name: string,
    policy: PolicyOptions,
    deps: { clock: Clock; metrics: SecurityMetrics; previousBucket?: TokenBucket | undefined },
  ) {
    this.name = name;
    this.weight = policy.weight ?? 1;
    this.#policy = policy;
    this.#allExperiments = policy.experiments.includes("*");
    this.#experiments = new Set(policy.experiments);
    this.#metrics = deps.metrics;
    this.#counts = deps.metrics.clientCounts(name);
    const rate: BucketRate | undefined = policy.rateLimit
      ? { perSecond: policy.rateLimit.documentsPerSecond, burst: policy.rateLimit.burstDocuments }
      : undefined;
    // A reload keeps a bucket whose rate is unchanged: reapplying a config must not refill everyone.
    this.bucket =
      rate === undefined
        ? undefined
        : deps.previousBucket?.hasRate(rate)
          ? deps.previousBucket
          : new TokenBucket(rate, deps.clock);
    this.unrestricted =
      policy.mayForceTeacher &&
      this.#allExperiments &&
      policy.maxDocumentsPerRequest === null &&
      this.bucket === undefined;
  }

  /**
   * Checks a validated request against the policy, in the order a client
   * can act on: permissions, the per-request cap, then the rate (charged
   * only to a request that passes everything else). Returns the refusal, or
   * undefined when admitted.
   */
  admit(req: AdmissionInput): GatewayError | undefined {
    if (this.unrestricted) return undefined;
    const p = this.#policy;
    const documents = req.documentCount;
    if (req.modelPreference === "teacher" && !p.mayForceTeacher) {
      this.#metrics.permissionDenied(this.name, "force_teacher");
      return new GatewayError(
        "NOT_PERMITTED",
        `model_preference: client ${this.name} may not force the teacher`,
      );
    }
    if (req.experiment !== "" && !this.#allExperiments && !this.#experiments.has(req.experiment)) {
      this.#metrics.permissionDenied(this.name, "experiment");
      return new GatewayError(
        "NOT_PERMITTED",
        `experiment: client ${this.name} may not request experiment ${quoteClientText(req.experiment)}`,
      );
    }
    const max = p.maxDocumentsPerRequest;
    if (max !== null && documents > max) {
      return new GatewayError(
        "INVALID_REQUEST",
        `documents: ${documents} documents exceed client ${this.name}'s limit of ${max} per request`,
      );
    }
    const bucket = this.bucket;
    if (bucket !== undefined) {
      // More than the bucket holds can never pass: waiting would not help, so it is the request that is wrong.
      if (documents > bucket.rate.burst) {
        return new GatewayError(
          "INVALID_REQUEST",
          `documents: ${documents} documents exceed client ${this.name}'s rate-limit burst of ${bucket.rate.burst}; split the request`,
        );
      }
      const waitMs = bucket.take(documents);
      if (waitMs > 0) {
        this.#metrics.rateLimited(this.name);
        // The delay travels with the error; toGrpcStatus puts it in the trailers.
        return new GatewayError(
          "RATE_LIMITED",
          `documents: client ${this.name} is over its rate limit; retry in ${waitMs} ms`,
          { retryAfterMs: waitMs },
        );
      }
    }
    return undefined;
  }

  /** Counts one answered request (client_requests_total). */
  count(code: number): void {
    this.#counts[code]! += 1;
  }
}
