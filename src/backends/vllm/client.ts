/**
 * The vLLM backend: one VllmEndpoint (undici Pool) per configured base URL
 * and per resolved address of a `dns+http(s)://name:port` URL, and periodic
 * readiness probes that learn each endpoint's max_model_len. Probe rounds
 * never overlap: the next one is scheduled an interval after the previous one
 * finished; an endpoint that joins between rounds is probed at once.
 */
import { type Logger, pino } from "pino";
import { type Clock, systemClock } from "../../util/clock.js";
import { GatewayError } from "../../util/gateway-error.js";
import type { BackendClient, BandPriorities } from "../backend-client.js";
import type { Resolver } from "../discovery.js";
import { createProbedBackend } from "../probed-backend.js";
import { VLLM_DEFAULTS } from "./defaults.js";
import { type EndpointSettings, VllmEndpoint } from "./endpoint.js";
import type { VllmMode } from "./errors.js";
import { parseVllmTarget, vllmVirtualHost } from "./target.js";
import { compileTemplate } from "./templates.js";

export type { VllmMode } from "./errors.js";

export interface VllmBackendOptions {
  /** The config name, e.g. "teacher"; names the backend in logs and errors. */
  readonly name: string;
  /**
   * Base URLs, e.g. "http://127.0.0.1:8000", optionally with a path prefix;
   * "dns+http://name:port" (or dns+https) for one endpoint per address of the name.
   */
  readonly endpoints: readonly string[];
  /** The served model name (vLLM's --served-model-name). */
  readonly model: string;
  /** "classify": POST /classify on a pooling server; "generate": POST /v1/completions with logprobs. */
  readonly mode: VllmMode;
  /** `{query}`/`{document}` template of the /classify input; default DEFAULT_CLASSIFY_TEMPLATE. */
  readonly classifyTemplate?: string;
  /** `{query}`/`{document}` template of the completion prompt; default DEFAULT_GENERATE_TEMPLATE. */
  readonly generateTemplate?: string;
  /** The label tokens for labels 1..5 (generate mode); default "1".."5". */
  readonly labelTokens?: readonly string[];
  /** Top-k logprobs asked for (generate mode; at most the server's --max-logprobs); default 20. */
  readonly topLogprobs?: number;
  /**
   * Prompt truncation length in tokens; default from /v1/models max_model_len
   * (classify: max_model_len, generate: max_model_len − 1). Never raised above that.
   */
  readonly maxInputTokens?: number;
  /** Call timeout when the CallContext has none; default 30000. */
  readonly timeoutMs?: number;
  /** Probe period and per-request probe timeout; defaults 5000 and 2000. */
  readonly readiness?: { readonly intervalMs?: number; readonly timeoutMs?: number };
  /**
   * Re-resolution of `dns+http(s)://` endpoints: period (default 30000) and
   * the resolver (default: the system's, all addresses; tests inject one).
   */
  readonly discovery?: { readonly intervalMs?: number; readonly resolve?: Resolver };
  /** Connections per endpoint (the batcher's concurrent batches); default 16. */
  readonly maxConnections?: number;
  /** Largest response body accepted; default 64 MiB. */
  readonly maxResponseBytes?: number;
  /** For https endpoints: the PEM CA bundle to trust instead of the system's roots. */
  readonly tls?: { readonly ca?: Buffer | undefined } | undefined;
  /**
   * vLLM's `--api-key`: sent as `Authorization: Bearer <key>` on every call and
   * probe. Called per request, so a rotated key (a re-read secret file) applies at once.
   */
  readonly apiKey?: (() => string) | undefined;
  /**
   * vLLM's `priority` for each band's batches (a batch goes at its highest
   * band's; lower is served first); default null: none sent. Needs a server
   * started with `--scheduling-policy priority`: vLLM answers any other
   * priority than 0 with a 400 under its default first-come policy.
   */
  readonly bandPriorities?: BandPriorities | null;
  readonly clock?: Clock;
  readonly logger?: Logger;
}

export function createVllmBackend(opts: VllmBackendOptions): BackendClient {
  const clock = opts.clock ?? systemClock;
  const logger = (opts.logger ?? pino({ level: "silent" })).child({ backend: opts.name });
  const intervalMs = opts.readiness?.intervalMs ?? VLLM_DEFAULTS.readiness.intervalMs;
  if (opts.endpoints.length === 0) throw new RangeError(`backend ${opts.name}: no endpoints configured`);
  const labelTokens = opts.labelTokens ?? VLLM_DEFAULTS.labelTokens;
  if (labelTokens.length !== 5) {
    throw new RangeError(`backend ${opts.name}: labelTokens must list 5 tokens, got ${labelTokens.length}`);
  }
  const template =
    opts.mode === "classify"
      ? (opts.classifyTemplate ?? VLLM_DEFAULTS.classifyTemplate)
      : (opts.generateTemplate ?? VLLM_DEFAULTS.generateTemplate);
  let render: EndpointSettings["render"];
  try {
    render = compileTemplate(template);
  } catch (err) {
    throw new RangeError(`backend ${opts.name}: ${opts.mode} template: ${(err as Error).message}`);
  }
  const settings: EndpointSettings = {
    backend: opts.name,
    model: opts.model,
    mode: opts.mode,
    render,
    labelTokens,
    topLogprobs: opts.topLogprobs ?? VLLM_DEFAULTS.topLogprobs,
    maxInputTokens: opts.maxInputTokens,
    timeoutMs: opts.timeoutMs ?? VLLM_DEFAULTS.timeoutMs,
    probeTimeoutMs: opts.readiness?.timeoutMs ?? VLLM_DEFAULTS.readiness.timeoutMs,
    maxConnections: opts.maxConnections ?? VLLM_DEFAULTS.maxConnections,
    maxResponseBytes: opts.maxResponseBytes ?? VLLM_DEFAULTS.maxResponseBytes,
    ca: opts.tls?.ca,
    apiKey: opts.apiKey,
    bandPriorities: opts.bandPriorities ?? null,
    clock,
    logger,
  };
  // Every endpoint not yet destroyed, leavers still draining included: dispose cuts their calls short too.
  const created = new Set<VllmEndpoint>();
  const probed = createProbedBackend<VllmEndpoint>({
    name: opts.name,
    kind: "vllm",
    endpoints: {
      targets: opts.endpoints,
      parse: parseVllmTarget,
      create: (id, address, target) => {
        for (const e of created) if (e.released) created.delete(e);
        const endpoint = new VllmEndpoint(
          id,
          settings,
          address === undefined ? undefined : vllmVirtualHost(target),
        );
        created.add(endpoint);
        return endpoint;
      },
      resolve: opts.discovery?.resolve,
      intervalMs: opts.discovery?.intervalMs,
    },
    probeIntervalMs: intervalMs,
    clock,
    logger,
  });
  return {
    ...probed,
    // Dispose comes after the gateway's grace period: a call still in flight (a shadow call
    // allowed routing.shadow.timeoutMs, a leaver's last batch) is failed now, not awaited.
    async [Symbol.asyncDispose]() {
      const reason = new GatewayError("SHUTTING_DOWN", `backend ${opts.name}: the backend client is closed`);
      await Promise.all([...created].map((e) => e.destroy(reason)));
      created.clear();
      await probed[Symbol.asyncDispose]();
    },
  };
}
