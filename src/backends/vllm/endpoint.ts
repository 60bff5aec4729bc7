/**
 * One vLLM endpoint: an undici Pool of keep-alive connections for scoring
 * calls (the whole batch in one list request), a separate one-connection
 * client for readiness probes, and the endpoint's readiness state.
 */
import type { Logger } from "pino";
import { Client, type Dispatcher, Pool } from "undici";
import { TRACEPARENT, TRACESTATE } from "../../tracing/trace-headers.js";
import type { Clock } from "../../util/clock.js";
import { GatewayError } from "../../util/gateway-error.js";
import type {
  BackendEndpoint,
  BandPriorities,
  CallContext,
  EndpointState,
  InferBatch,
  InferResult,
  ModelIdentity,
  PriorityBand,
} from "../backend-client.js";
import type { ParsedScores } from "./codec.js";
import {
  CLASSIFY_PATH,
  CLASSIFY_ROUTE,
  classifyRequestBody,
  completionRequestBody,
  GENERATE_PATH,
  GENERATE_ROUTE,
  parseClassifyResponse,
  parseCompletionResponse,
} from "./codec.js";
import {
  CallerAbortedError,
  malformedResponse,
  mapVllmCallError,
  mapVllmHttpError,
  type VllmCallSite,
  type VllmMode,
} from "./errors.js";
import { type ProbeOutcome, probeEndpoint } from "./readiness.js";
import type { PairTemplate } from "./templates.js";
import { authorizationHeader, httpExchange } from "./transport.js";

/**
 * vLLM caps list inputs (completion prompts, /classify inputs) at
 * VLLM_MAX_COMPLETION_PROMPTS, 1024 by default, and answers a longer list with
 * a 400 that fails the whole batch; exposing it as the endpoint's batch cap
 * keeps the batcher under it.
 */
export const VLLM_MAX_LIST_INPUTS = 1024;

/**
 * Below uvicorn's 5 s keep-alive (vLLM's default), so the gateway drops an
 * idle connection before the server does rather than racing it: a POST that
 * meets a connection the server just closed fails and is not retried.
 */
const KEEP_ALIVE_MS = 4_000;

/** /health and /v1/models answers are a few KiB; anything near this is not vLLM. */
const MAX_PROBE_RESPONSE_BYTES = 1024 * 1024;

export interface EndpointSettings {
  readonly backend: string;
  readonly model: string;
  readonly mode: VllmMode;
  readonly render: PairTemplate;
  readonly labelTokens: readonly string[];
  readonly topLogprobs: number;
  /** Overrides the truncation length derived from max_model_len (never above it). */
  readonly maxInputTokens: number | undefined;
  readonly timeoutMs: number;
  readonly probeTimeoutMs: number;
  readonly maxConnections: number;
  readonly maxResponseBytes: number;
  /** PEM CA bundle for https endpoints; undefined: the system's roots. */
  readonly ca: Buffer | undefined;
  /** The API key sent as a bearer token, when the server requires one. */
  readonly apiKey: (() => string) | undefined;
  /** vLLM's `priority` of a batch by its highest band; null: none sent. */
  readonly bandPriorities: BandPriorities | null;
  readonly clock: Clock;
  readonly logger: Logger;
}

/** The request body with vLLM's `priority` for the batch's band, when bands are passed on. */
function withPriority(
  body: object,
  priorities: BandPriorities | null,
  band: PriorityBand | undefined,
): object {
  return priorities === null || band === undefined ? body : { ...body, priority: priorities[band] };
}

/** How a discovered endpoint (one address of a DNS name) still presents itself as the name. */
export interface VllmVirtualHost {
  /** The Host header: the name and port as configured, e.g. "vllm.ml.svc:8000". */
  readonly host: string;
  /** The TLS server name (SNI, certificate check) for https: the name without the port. */
  readonly servername?: string | undefined;
}

export class VllmEndpoint implements BackendEndpoint {
  readonly id: string;
  readonly maxBatchSize = VLLM_MAX_LIST_INPUTS;
  readonly #s: EndpointSettings;
  readonly #site: VllmCallSite;
  readonly #basePath: string;
  readonly #host: string | undefined;
  readonly #pool: Pool;
  readonly #probeClient: Dispatcher;
  readonly #probes = new AbortController();
  #state: EndpointState = "unknown";
  #maxModelLen: number | undefined;
  #model: ModelIdentity | undefined;
  #lastReason: string | undefined;
  #closed = false;
  #closing: Promise<void> | undefined;
  #destroyed = false;
  #released = false;
  #calls = 0;

  /**
   * `url` is the server's base URL, optionally with a path prefix (a reverse
   * proxy); `vhost` is set when `url` holds one resolved address of a name.
   */
  constructor(url: string, settings: EndpointSettings, vhost?: VllmVirtualHost) {
    this.id = url;
    this.#s = settings;
    this.#site = { backend: settings.backend, endpoint: url, model: settings.model, mode: settings.mode };
    const parsed = new URL(url);
    this.#basePath = parsed.pathname.replace(/\/+$/, "");
    this.#host = vhost?.host;
    const https = parsed.protocol === "https:";
    const servername = https ? vhost?.servername : undefined;
    const tls = {
      ...(servername === undefined ? {} : { servername }),
      ...(https && settings.ca !== undefined ? { ca: settings.ca } : {}),
    };
    const connect = Object.keys(tls).length === 0 ? {} : { connect: tls };
    this.#pool = new Pool(parsed.origin, {
      connections: settings.maxConnections,
      pipelining: 1,
      keepAliveTimeout: KEEP_ALIVE_MS,
      maxResponseSize: settings.maxResponseBytes,
      ...connect,
    });
    // Probes get their own connection so that a pool saturated with slow
    // scoring calls does not queue them into timeouts and mark a busy server not ready.
    this.#probeClient = new Client(parsed.origin, {
      pipelining: 1,
      keepAliveTimeout: KEEP_ALIVE_MS,
      maxResponseSize: MAX_PROBE_RESPONSE_BYTES,
      ...connect,
    });
  }

  get model(): ModelIdentity | undefined {
    return this.#model;
  }

  get state(): EndpointState {
    return this.#state;
  }

  /** Closed (its calls finished) or destroyed: it holds no connection any more. */
  get released(): boolean {
    return this.#released;
  }

  /** The prompt length (in tokens) sent as truncate_prompt_tokens, when known. */
  get truncateTokens(): number | undefined {
    const len = this.#maxModelLen;
    // /classify rejects input > max_model_len; completions need room for the one generated token.
    const derived = len === undefined ? undefined : this.#s.mode === "classify" ? len : len - 1;
    const override = this.#s.maxInputTokens;
    if (override === undefined || derived === undefined) return override ?? derived;
    return Math.min(override, derived);
  }

  async infer(batch: InferBatch, ctx: CallContext): Promise<InferResult> {
    const where = `backend ${this.#s.backend} on ${this.id}`;
    const n = batch.queries.length;
    if (batch.documents.length !== n) {
      const message = `${where}: batch has ${n} queries but ${batch.documents.length} documents`;
      throw new GatewayError("INTERNAL", message);
    }
    if (ctx.signal.aborted) throw mapVllmCallError(new CallerAbortedError(ctx.signal.reason), this.#site);
    if (this.#closed) {
      throw new GatewayError("SHUTTING_DOWN", `${where}: the backend client is closed`);
    }
    const timeoutMs = ctx.timeoutMs ?? this.#s.timeoutMs;
    if (!(timeoutMs > 0)) {
      const message = `${where}: no time left for the call (timeout ${timeoutMs} ms)`;
      throw new GatewayError("DEADLINE_EXCEEDED", message);
    }
    if (n === 0) return { probabilities: new Float32Array(0), model: { name: this.#s.model, version: "" } };

    const { render, model, mode } = this.#s;
    const texts = batch.queries.map((q, i) => render(q, batch.documents[i]!));
    const truncate = this.truncateTokens;
    const [path, route, body] =
      mode === "classify"
        ? [CLASSIFY_PATH, CLASSIFY_ROUTE, classifyRequestBody(model, texts, truncate)]
        : [GENERATE_PATH, GENERATE_ROUTE, completionRequestBody(model, texts, this.#s.topLogprobs, truncate)];
    const headers: Record<string, string> = {
      "content-type": "application/json",
      accept: "application/json",
      ...authorizationHeader(this.#s.apiKey),
    };
    if (this.#host !== undefined) headers.host = this.#host;
    // vLLM takes X-Request-Id as its request id, so the batch shows up in the
    // server's logs. The call number keeps ids unique when a batch is retried
    // on the same server: vLLM does not expect two live requests with one id.
    this.#calls++;
    if (ctx.batchId !== undefined) headers["x-request-id"] = `${ctx.batchId}.${this.#calls}`;
    const trace = ctx.traceHeaders;
    if (trace !== undefined) {
      headers[TRACEPARENT] = trace.traceparent;
      if (trace.tracestate !== undefined) headers[TRACESTATE] = trace.tracestate;
    }

    let reply: { status: number; text: string };
    try {
      reply = await httpExchange(
        this.#pool,
        {
          method: "POST",
          path: this.#basePath + path,
          body: JSON.stringify(withPriority(body, this.#s.bandPriorities, ctx.band)),
          headers,
          timeoutMs,
          signal: ctx.signal,
        },
        this.#s.clock,
      );
    } catch (err) {
      throw mapVllmCallError(err, this.#site);
    }
    if (reply.status !== 200)
      throw mapVllmHttpError(reply.status, reply.text, this.#site, route, this.#s.apiKey !== undefined);
    let json: unknown;
    try {
      json = JSON.parse(reply.text);
    } catch (err) {
      throw malformedResponse(this.#site, route, `the body is not JSON (${(err as Error).message})`);
    }
    const parsed: ParsedScores =
      mode === "classify"
        ? parseClassifyResponse(json, n, this.#site)
        : parseCompletionResponse(json, n, this.#s.labelTokens, this.#site);
    // vLLM has no model versions; the served model id is the identity.
    return { probabilities: parsed.probabilities, model: { name: parsed.model ?? model, version: "" } };
  }

  async probe(): Promise<void> {
    if (this.#closed) return;
    const outcome = await probeEndpoint({
      dispatcher: this.#probeClient,
      site: this.#site,
      basePath: this.#basePath,
      host: this.#host,
      apiKey: this.#s.apiKey,
      timeoutMs: this.#s.probeTimeoutMs,
      clock: this.#s.clock,
      signal: this.#probes.signal,
    });
    if (!this.#closed) this.#apply(outcome);
  }

  /**
   * Refuses new calls at once and resolves once the calls in flight have
   * finished, each bounded by its deadline: a discovered endpoint that left
   * DNS drains this way.
   */
  close(): Promise<void> {
    if (this.#closing === undefined) {
      this.#closed = true;
      this.#probes.abort();
      this.#closing = this.#destroyed
        ? Promise.resolve()
        : Promise.all([this.#pool.close(), this.#probeClient.close()]).then(() => {
            this.#released = true;
          });
    }
    return this.#closing;
  }

  /**
   * Refuses new calls and fails the calls in flight at once with `reason`,
   * closing their connections (vLLM cancels the work of a request whose
   * connection closed): the backend's dispose, when the gateway's grace
   * period is over and nothing may wait for a call's own deadline.
   */
  async destroy(reason: GatewayError): Promise<void> {
    this.#closed = true;
    this.#probes.abort();
    if (this.#destroyed) return;
    this.#destroyed = true;
    this.#released = true;
    await Promise.all([this.#pool.destroy(reason), this.#probeClient.destroy(reason)]);
  }

  #apply(outcome: ProbeOutcome): void {
    const log = this.#s.logger;
    const previous = this.#state;
    if (outcome.ready) {
      const changed = outcome.maxModelLen !== this.#maxModelLen;
      this.#maxModelLen = outcome.maxModelLen;
      this.#model = outcome.model;
      this.#state = "ready";
      this.#lastReason = undefined;
      if (previous !== "ready" || changed) {
        log.info(
          {
            endpoint: this.id,
            from: previous,
            maxModelLen: outcome.maxModelLen,
            truncatePromptTokens: this.truncateTokens,
          },
          "vllm endpoint ready",
        );
      }
      return;
    }
    this.#state = "not-ready";
    // Log on a transition or a new reason, not on every probe of a lasting outage.
    if (previous === "not-ready" && outcome.reason === this.#lastReason) return;
    this.#lastReason = outcome.reason;
    const fields = { endpoint: this.id, from: previous, reason: outcome.reason };
    if (outcome.misconfigured) log.error(fields, `vllm endpoint not ready: ${outcome.reason}`);
    else log.warn(fields, "vllm endpoint not ready");
  }
}
