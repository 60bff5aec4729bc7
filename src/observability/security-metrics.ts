import { Counter, type Registry } from "prom-client";
import { codeName, METRIC_PREFIX } from "./metrics.js";

/** Why a request's credentials were refused (the `reason` label of auth_failures_total). */
export type AuthFailureReason = "missing" | "malformed" | "unknown_key" | "unknown_certificate";

/** Why a client was refused an action (the `reason` label of permission_denied_total). */
export type PermissionReason = "force_teacher" | "experiment";

/** Number of gRPC status codes (OK = 0 … UNAUTHENTICATED = 16). */
const CODES = 17;

/**
 * Metrics of client identities, policy and rate limits. `client` labels come
 * from `auth.clients[].name` (plus "anonymous"), so they are bounded by the
 * config. Requests per client are counted in plain arrays on the request path
 * (no label hashing per request) and copied into the counter when Prometheus
 * scrapes.
 */
export interface SecurityMetrics {
  authFailure(reason: AuthFailureReason): void;
  permissionDenied(client: string, reason: PermissionReason): void;
  rateLimited(client: string): void;
  /** The per-code request counts of one client; the same array for a name across reloads. */
  clientCounts(client: string): Float64Array;
}

const byRegistry = new WeakMap<Registry, SecurityMetrics>();

/** The security metrics on `registry`, registered once however many times this is asked. */
export function securityMetrics(registry: Registry): SecurityMetrics {
  const existing = byRegistry.get(registry);
  if (existing) return existing;
  const p = METRIC_PREFIX;
  const registers = [registry];
  const counts = new Map<string, Float64Array>();
  const authFailures = new Counter({
    name: `${p}auth_failures_total`,
    help: "Requests refused UNAUTHENTICATED, by reason (missing, malformed, unknown_key, unknown_certificate).",
    labelNames: ["reason"] as const,
    registers,
  });
  const permissionDenied = new Counter({
    name: `${p}permission_denied_total`,
    help: "Requests refused PERMISSION_DENIED by a client's policy, by client and reason (force_teacher, experiment).",
    labelNames: ["client", "reason"] as const,
    registers,
  });
  const rateLimited = new Counter({
    name: `${p}rate_limited_total`,
    help: "Requests refused RESOURCE_EXHAUSTED by a client's rate limit (token bucket in documents/s), by client.",
    labelNames: ["client"] as const,
    registers,
  });
  new Counter({
    name: `${p}client_requests_total`,
    help: "Score requests answered, by client identity (auth.clients name or anonymous) and gRPC status code.",
    labelNames: ["client", "code"] as const,
    registers,
    collect() {
      this.reset();
      for (const [client, perCode] of counts) {
        for (let code = 0; code < CODES; code++) {
          const n = perCode[code]!;
          if (n > 0) this.inc({ client, code: codeName(code) }, n);
        }
      }
    },
  });
  const metrics: SecurityMetrics = {
    authFailure: (reason) => authFailures.labels(reason).inc(),
    permissionDenied: (client, reason) => permissionDenied.labels(client, reason).inc(),
    rateLimited: (client) => rateLimited.labels(client).inc(),
    clientCounts(client) {
      let perCode = counts.get(client);
      if (!perCode) {
        perCode = new Float64Array(CODES);
        counts.set(client, perCode);
      }
      return perCode;
    },
  };
  byRegistry.set(registry, metrics);
  return metrics;
}
