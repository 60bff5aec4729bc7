import { quoteClientText } from "../util/client-text.js";
import { type ErrorReason, GatewayError } from "../util/gateway-error.js";
import { inSample } from "./sampler.js";

export type ModelRoleName = "student" | "teacher";

/** A request's `model_preference`, as validation normalises it. */
export type ModelPreference = "unspecified" | "student" | "teacher";

/** The routing section of the config, in the shape the router needs. */
export interface RouterOptions {
  readonly defaultBackend: string;
  readonly canary?:
    | {
        readonly backend: string;
        readonly percent: number;
        readonly salt: string;
        readonly fallback: boolean;
      }
    | undefined;
  readonly experiments: readonly {
    readonly name: string;
    readonly backend: string;
    readonly fallback: boolean;
  }[];
  readonly allowForcedTeacher: boolean;
  /** Role of each configured backend. */
  readonly roles: ReadonlyMap<string, ModelRoleName>;
}

export interface RouteInput {
  readonly requestId: string;
  readonly routingKey: string;
  readonly experiment: string;
  readonly modelPreference: ModelPreference;
}

/**
 * Where a request goes and the name the response reports (`ScoreResponse.route`).
 * `fallback` names the backend that answers instead (route "fallback") when the
 * chosen one is unavailable; undefined means the request fails instead.
 */
export type RouteDecision =
  | { readonly kind: "forward"; readonly backend: string; readonly route: string; readonly fallback?: string }
  | { readonly kind: "reject"; readonly error: GatewayError };

export interface Router {
  route(input: RouteInput): RouteDecision;
}

/**
 * Decides once per request, in this order: forced teacher (model_preference,
 * where permitted) → named experiment → canary percent → default. A request
 * asking for the student skips the canary.
 */
export function createRouter(opts: RouterOptions): Router {
  const experiments = new Map<string, RouteDecision>(
    opts.experiments.map((e) => [
      e.name,
      forward(e.backend, `experiment:${e.name}`, e.fallback ? opts.defaultBackend : undefined),
    ]),
  );
  const teacher = [...opts.roles].find(([, role]) => role === "teacher")?.[0];
  const defaultRoute: RouteDecision = { kind: "forward", backend: opts.defaultBackend, route: "bulk" };
  const canary = opts.canary;
  const canaryRoute: RouteDecision | undefined = canary
    ? forward(canary.backend, "canary", canary.fallback ? opts.defaultBackend : undefined)
    : undefined;

  return {
    route(input) {
      if (input.modelPreference === "teacher") {
        if (!opts.allowForcedTeacher) {
          return reject("NOT_PERMITTED", "model_preference: forcing the teacher is not permitted");
        }
        if (!teacher) {
          return reject(
            "NO_BACKEND_FOR_ROLE",
            "model_preference: MODEL_ROLE_TEACHER asked, but no teacher backend is configured",
          );
        }
        return { kind: "forward", backend: teacher, route: "forced" };
      }
      if (input.experiment !== "") {
        const decision = experiments.get(input.experiment);
        if (decision === undefined) {
          const known = [...experiments.keys()].join(", ") || "none";
          return reject(
            "INVALID_REQUEST",
            `experiment: unknown experiment ${quoteClientText(input.experiment)} (configured: ${known})`,
          );
        }
        return decision;
      }
      if (canary && canaryRoute && input.modelPreference !== "student") {
        const key = input.routingKey === "" ? input.requestId : input.routingKey;
        if (inSample(canary.percent, canary.salt, key)) return canaryRoute;
      }
      return defaultRoute;
    },
  };
}

function forward(backend: string, route: string, fallback: string | undefined): RouteDecision {
  // The default backend cannot fall back to itself.
  return fallback === undefined || fallback === backend
    ? { kind: "forward", backend, route }
    : { kind: "forward", backend, route, fallback };
}

function reject(reason: ErrorReason, message: string): RouteDecision {
  return { kind: "reject", error: new GatewayError(reason, message) };
}
