/**
 * vLLM's HTTP answers and undici's transport errors → GatewayError. The split
 * that matters to callers is the Triton one: UNAVAILABLE for "try elsewhere or
 * later" (server down or overloaded, model not served), INTERNAL for "the
 * gateway and the server disagree" (a request the gateway built was refused,
 * the wrong mode for the served model, a malformed answer); retrying those
 * will not help. Every message names the backend and the endpoint.
 */
import { GatewayError } from "../../util/gateway-error.js";

export type VllmMode = "classify" | "generate";

export interface VllmCallSite {
  /** The backend's config name, e.g. "teacher". */
  readonly backend: string;
  /** The endpoint as configured, e.g. "http://127.0.0.1:8000". */
  readonly endpoint: string;
  readonly model: string;
  readonly mode: VllmMode;
}

/** Our own deadline fired (the call's budget, not one of undici's socket timers). */
export class DeadlineExceededError extends Error {
  override readonly name = "DeadlineExceededError";
  constructor(readonly timeoutMs: number) {
    super(`no answer within ${timeoutMs} ms`);
  }
}

/** The caller's signal aborted; `reason` is the signal's reason. */
export class CallerAbortedError extends Error {
  override readonly name = "CallerAbortedError";
  constructor(readonly reason: unknown) {
    super("aborted by the caller");
  }
}

const MAX_QUOTED = 1_000;

function quote(text: string): string {
  const t = text.trim();
  return t.length > MAX_QUOTED ? `${t.slice(0, MAX_QUOTED)}…` : t;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** FastAPI's validation detail: a string, or a list of {loc, msg}. */
function describeDetail(detail: unknown): string | undefined {
  if (typeof detail === "string") return detail;
  if (!Array.isArray(detail)) return undefined;
  const parts = detail.map((d) => {
    if (!isRecord(d)) return JSON.stringify(d);
    const loc = Array.isArray(d.loc) ? d.loc.join(".") : undefined;
    const msg = typeof d.msg === "string" ? d.msg : JSON.stringify(d);
    return loc ? `${loc}: ${msg}` : msg;
  });
  return parts.join("; ");
}

export interface ServerError {
  readonly message: string;
  /** `param` of the OpenAI-style shapes, e.g. "model". */
  readonly param?: string | undefined;
}

/**
 * The message of an error body in any shape vLLM (or what fronts it) sends:
 * `{"error":{"message","type","param","code"}}` (vLLM ≥ 0.10.1),
 * `{"object":"error","message",...}` (older vLLM), `{"detail":...}` (FastAPI,
 * e.g. an unknown route), `{"error":"..."}` (the production-stack router), or
 * not JSON at all (a proxy's HTML page).
 */
export function parseErrorBody(text: string): ServerError {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return { message: text.trim() === "" ? "(empty body)" : quote(text) };
  }
  if (isRecord(body)) {
    const err = body.error;
    if (isRecord(err) && typeof err.message === "string") {
      return { message: quote(err.message), param: typeof err.param === "string" ? err.param : undefined };
    }
    if (typeof err === "string") return { message: quote(err) };
    if (typeof body.message === "string") {
      return { message: quote(body.message), param: typeof body.param === "string" ? body.param : undefined };
    }
    const detail = describeDetail(body.detail);
    if (detail !== undefined) return { message: quote(detail) };
  }
  return { message: quote(text) };
}

/** What fits a vLLM server that does not serve the requested mode's route or API. */
function modeHint(mode: VllmMode): string {
  return mode === "classify"
    ? "mode classify needs a pooling server (vllm serve --runner pooling --convert classify); " +
        "for a generating server set mode: generate"
    : "mode generate needs a generating server; for a pooling (classifier) server set mode: classify";
}

/** What to check when vLLM refuses the gateway's credentials (its `--api-key`). */
export function credentialsHint(backend: string, keySent: boolean): string {
  return keySent
    ? `the server does not accept the API key of backends.${backend}.apiKeyEnv / apiKeyFile`
    : `the server requires an API key: set backends.${backend}.apiKeyEnv or apiKeyFile`;
}

/** Maps a non-200 answer of vLLM to the gateway's error. `route` is e.g. "POST /classify". */
export function mapVllmHttpError(
  httpStatus: number,
  bodyText: string,
  site: VllmCallSite,
  route: string,
  keySent = false,
): GatewayError {
  const where = `backend ${site.backend}`;
  const { message, param } = parseErrorBody(bodyText);
  const answered = `${route} answered HTTP ${httpStatus}: ${message}`;
  if (httpStatus === 404) {
    // vLLM's NotFoundError ("The model `x` does not exist.", param "model") or
    // the router's "Model x not found"; anything else is a route the server
    // does not have, which is what a server of the other kind answers.
    if (param === "model" || /does not exist|model/i.test(message)) {
      return new GatewayError(
        "BACKEND_MODEL_UNAVAILABLE",
        `${where}: model '${site.model}' is not served by ${site.endpoint}: ${message}`,
      );
    }
    return new GatewayError(
      "BACKEND_REJECTED",
      `${where}: ${site.endpoint} has no route ${route} (${answered}); ${modeHint(site.mode)}`,
    );
  }
  if (httpStatus === 401 || httpStatus === 403) {
    // vLLM's --api-key refuses a missing or wrong bearer token ({"error":"Unauthorized"}).
    // Every endpoint and every retry would get the same answer: a configuration problem.
    return new GatewayError(
      "BACKEND_REJECTED",
      `${where}: vllm on ${site.endpoint} refused the gateway's credentials (${answered}); ${credentialsHint(site.backend, keySent)}`,
    );
  }
  if (httpStatus === 501) {
    // "The model does not support Classification API" and its siblings.
    return new GatewayError(
      "BACKEND_REJECTED",
      `${where}: model '${site.model}' on ${site.endpoint} does not support mode ${site.mode} (${answered}); ${modeHint(site.mode)}`,
    );
  }
  if (httpStatus === 408 || httpStatus === 429 || httpStatus >= 500) {
    // 503 is vLLM's dead engine (and, from ≈0.29, its full queue); 502/504 a proxy in front.
    return new GatewayError(
      "BACKEND_UNAVAILABLE",
      `${where}: vllm on ${site.endpoint} is unavailable: ${answered}`,
    );
  }
  if (httpStatus === 400 && /priority scheduling is not enabled/i.test(message)) {
    // The server runs vLLM's default first-come policy: every call with a band's priority fails alike.
    return new GatewayError(
      "BACKEND_REJECTED",
      `${where}: vllm on ${site.endpoint} does not schedule by priority (${answered}); start it with ` +
        `--scheduling-policy priority, or set backends.${site.backend}.bandPriorities: null`,
    );
  }
  // 400 is vLLM's validation error. Callers' texts are validated before they
  // reach a batch and prompts are truncated to the server's max_model_len, so a
  // 400 usually means the gateway and the server disagree (template, options,
  // a list cap) and another endpoint will not help. But one prompt the
  // tokenizer or template cannot take fails the whole list too: the batcher
  // splits the batch to find such an input before blaming anyone.
  const rejected = `${where}: vllm on ${site.endpoint} rejected the request the gateway built for model '${site.model}': ${answered}`;
  return httpStatus === 400
    ? new GatewayError("BACKEND_REJECTED", rejected, { inputRejection: true })
    : new GatewayError("BACKEND_REJECTED", rejected);
}

const CONNECTION_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "EPIPE",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ENOTFOUND",
  "EAI_AGAIN",
  "UND_ERR_SOCKET",
  "UND_ERR_CONNECT_TIMEOUT",
]);

/** OpenSSL's verification codes (`UNABLE_TO_VERIFY_LEAF_SIGNATURE`, `CERT_HAS_EXPIRED`…) and Node's name check. */
function isCertificateError(code: string): boolean {
  return (
    code === "ERR_TLS_CERT_ALTNAME_INVALID" ||
    /^(UNABLE_TO_|CERT_|DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN|ERR_SSL_)/.test(code)
  );
}

function errorCode(err: unknown): string | undefined {
  if (!isRecord(err) && !(err instanceof Error)) return undefined;
  const code = (err as { code?: unknown }).code;
  if (typeof code === "string") return code;
  // Node's happy-eyeballs connect fails with an AggregateError of the per-address errors.
  if (err instanceof AggregateError) {
    for (const e of err.errors) {
      const inner = errorCode(e);
      if (inner !== undefined) return inner;
    }
  }
  return undefined;
}

function describeError(err: unknown): string {
  if (err instanceof AggregateError && err.message === "") {
    return err.errors.map((e) => (e instanceof Error ? e.message : String(e))).join("; ");
  }
  return err instanceof Error ? err.message : String(err);
}

/** Maps a call that got no HTTP answer (transport error, deadline, abort) to the gateway's error. */
export function mapVllmCallError(err: unknown, site: VllmCallSite): GatewayError {
  if (err instanceof GatewayError) return err;
  const where = `backend ${site.backend}`;
  const options = { cause: err };
  if (err instanceof CallerAbortedError) {
    if (err.reason instanceof GatewayError) return err.reason;
    return new GatewayError("CLIENT_CANCELLED", `${where}: call to ${site.endpoint} cancelled`, options);
  }
  if (err instanceof DeadlineExceededError) {
    return new GatewayError(
      "DEADLINE_EXCEEDED",
      `${where}: call to ${site.endpoint} exceeded its deadline (${err.timeoutMs} ms)`,
      options,
    );
  }
  const code = errorCode(err);
  const detail = describeError(err);
  if (code === "UND_ERR_HEADERS_TIMEOUT" || code === "UND_ERR_BODY_TIMEOUT") {
    return new GatewayError(
      "DEADLINE_EXCEEDED",
      `${where}: call to ${site.endpoint} exceeded its deadline: ${detail}`,
      options,
    );
  }
  if (code === "UND_ERR_RES_EXCEEDED_MAX_SIZE") {
    return new GatewayError(
      "BACKEND_MALFORMED_RESPONSE",
      `${where}: the response of vllm on ${site.endpoint} exceeds the size limit (raise backends.${site.backend}.maxResponseBytes or lower the batch size): ${detail}`,
      options,
    );
  }
  if (code === "UND_ERR_CLOSED" || code === "UND_ERR_DESTROYED") {
    return new GatewayError("SHUTTING_DOWN", `${where}: the client of ${site.endpoint} is closed`, options);
  }
  if (code !== undefined && isCertificateError(code)) {
    return new GatewayError(
      "BACKEND_ERROR",
      `${where}: TLS with vllm on ${site.endpoint} failed: ${detail} (${code}); ` +
        `check backends.${site.backend}.tls.caFile and the name in the endpoint URL`,
      options,
    );
  }
  if (code !== undefined && CONNECTION_CODES.has(code)) {
    return new GatewayError(
      "BACKEND_UNAVAILABLE",
      `${where}: cannot reach vllm on ${site.endpoint}: ${detail} (${code})`,
      options,
    );
  }
  if (code !== undefined) {
    // Another transport failure (undici's UND_ERR_*, a socket's E*): the server may be fine elsewhere.
    return new GatewayError(
      "BACKEND_ERROR",
      `${where}: call to vllm on ${site.endpoint} failed: ${detail} (${code})`,
      options,
    );
  }
  return new GatewayError("INTERNAL", `${where}: call to ${site.endpoint} failed: ${detail}`, options);
}

/** A 200 answer the gateway cannot use; `detail` names what is wrong, e.g. "choices[3] missing". */
export function malformedResponse(site: VllmCallSite, route: string, detail: string): GatewayError {
  return new GatewayError(
    "BACKEND_MALFORMED_RESPONSE",
    `backend ${site.backend}: malformed ${route} response from vllm on ${site.endpoint}: ${detail}`,
  );
}
