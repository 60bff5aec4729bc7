/**
 * One readiness probe of a vLLM endpoint: `GET /health` (200 while the engine
 * is alive, 503 once it died), then `GET /v1/models`, which must list the
 * configured model and whose `max_model_len` sets how far prompts are
 * truncated. A probe never throws; it reports ready or not-ready with a reason.
 */
import type { Dispatcher } from "undici";
import type { Clock } from "../../util/clock.js";
import type { ModelIdentity } from "../backend-client.js";
import { isRecord } from "./codec.js";
import { credentialsHint, mapVllmCallError, parseErrorBody, type VllmCallSite } from "./errors.js";
import { authorizationHeader, httpExchange } from "./transport.js";

export type ProbeOutcome =
  /** `maxModelLen` is undefined when the server did not report it. */
  | {
      readonly ready: true;
      readonly maxModelLen: number | undefined;
      /** vLLM has no model versions: the served model id is the identity, as answers report it. */
      readonly model: ModelIdentity;
    }
  /** `misconfigured`: the server is up but does not serve what the config names (logged as an error). */
  | { readonly ready: false; readonly reason: string; readonly misconfigured: boolean };

export interface ProbeTarget {
  readonly dispatcher: Dispatcher;
  readonly site: VllmCallSite;
  /** The endpoint URL's path prefix ("" for none). */
  readonly basePath: string;
  /** The Host header of a discovered endpoint (the name it was resolved from). */
  readonly host?: string | undefined;
  /** vLLM's API key: its `/v1/models` requires it when the server runs with `--api-key`. */
  readonly apiKey?: (() => string) | undefined;
  readonly timeoutMs: number;
  readonly clock: Clock;
  /** Aborted when the backend closes. */
  readonly signal: AbortSignal;
}

async function get(target: ProbeTarget, path: string) {
  return httpExchange(
    target.dispatcher,
    {
      method: "GET",
      path: target.basePath + path,
      headers: {
        accept: "application/json",
        ...(target.host === undefined ? {} : { host: target.host }),
        ...authorizationHeader(target.apiKey),
      },
      timeoutMs: target.timeoutMs,
      signal: target.signal,
    },
    target.clock,
  );
}

export async function probeEndpoint(target: ProbeTarget): Promise<ProbeOutcome> {
  const notReady = (reason: string, misconfigured = false): ProbeOutcome => ({
    ready: false,
    reason,
    misconfigured,
  });
  try {
    const health = await get(target, "/health");
    if (health.status !== 200) {
      return notReady(`GET /health answered HTTP ${health.status}: ${parseErrorBody(health.text).message}`);
    }
    const models = await get(target, "/v1/models");
    if (models.status === 401 || models.status === 403) {
      return notReady(
        `GET /v1/models answered HTTP ${models.status}: ${parseErrorBody(models.text).message}; ` +
          `${credentialsHint(target.site.backend, target.apiKey !== undefined)}`,
        true,
      );
    }
    if (models.status !== 200) {
      return notReady(
        `GET /v1/models answered HTTP ${models.status}: ${parseErrorBody(models.text).message}`,
      );
    }
    return checkModels(models.text, target.site);
  } catch (err) {
    return notReady(mapVllmCallError(err, target.site).message);
  }
}

/** Whether the `/v1/models` body lists the configured model, and its max_model_len. */
export function checkModels(text: string, site: VllmCallSite): ProbeOutcome {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return {
      ready: false,
      reason: "GET /v1/models answered with a body that is not JSON",
      misconfigured: false,
    };
  }
  const data = isRecord(body) ? body.data : undefined;
  if (!Array.isArray(data)) {
    return { ready: false, reason: "GET /v1/models answered without a data list", misconfigured: false };
  }
  const cards = data.filter(isRecord);
  const card = cards.find((c) => c.id === site.model);
  if (!card) {
    const served = cards.map((c) => String(c.id)).join(", ") || "none";
    return {
      ready: false,
      reason: `model '${site.model}' is not served by ${site.endpoint}; served: ${served}`,
      misconfigured: true,
    };
  }
  const len = card.max_model_len;
  const maxModelLen = typeof len === "number" && Number.isInteger(len) && len > 1 ? len : undefined;
  return { ready: true, maxModelLen, model: { name: site.model, version: "" } };
}
