/**
 * The vLLM backend: one VllmEndpoint (undici Pool) per configured base URL
 * and per resolved address of a `dns+http(s)://name:port` URL, and periodic
 * readiness probes that learn each endpoint's max_model_len. Probe rounds
 * never overlap: the next one is scheduled an interval after the previous one
 * finished; an endpoint that joins between rounds is probed at once.
 */
import { isIP } from "node:net";
import { status } from "@grpc/grpc-js";
import { type Logger, pino } from "pino";
import { type Clock, systemClock } from "../../util/clock.js";
import { GatewayError } from "../../util/gateway-error.js";
import type { BackendClient } from "../backend-client.js";
import type { Resolver, TargetSpec } from "../discovery.js";
import { formatHostPort } from "../host-port.js";
import { createProbedBackend } from "../probed-backend.js";
import { type EndpointSettings, VllmEndpoint, type VllmVirtualHost } from "./endpoint.js";
import type { VllmMode } from "./mapping.js";
import { compileTemplate, DEFAULT_CLASSIFY_TEMPLATE, DEFAULT_GENERATE_TEMPLATE } from "./templates.js";

export type { VllmMode } from "./mapping.js";

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
  readonly clock?: Clock;
  readonly logger?: Logger;
}

export const VLLM_DEFAULTS = {
  classifyTemplate: DEFAULT_CLASSIFY_TEMPLATE,
  generateTemplate: DEFAULT_GENERATE_TEMPLATE,
  labelTokens: ["1", "2", "3", "4", "5"],
  topLogprobs: 20,
  timeoutMs: 30_000,
  readiness: { intervalMs: 5_000, timeoutMs: 2_000 },
  maxConnections: 16,
  maxResponseBytes: 64 * 1024 * 1024,
} as const;

const DNS_PREFIX = "dns+";

/** The URL a `dns+http(s)://` endpoint stands for, or undefined for a plain URL. */
function dnsUrl(target: string): URL | undefined {
  if (!target.startsWith(`${DNS_PREFIX}http://`) && !target.startsWith(`${DNS_PREFIX}https://`))
    return undefined;
  try {
    return new URL(target.slice(DNS_PREFIX.length));
  } catch {
    throw new RangeError(`"${target}" must be dns+http://host:port or dns+https://host:port`);
  }
}

/**
 * A plain URL is one endpoint, its id the URL; `dns+http://name:port/prefix`
 * is one endpoint per address of the name, its id the URL that is dialled
 * ("http://10.0.0.7:8000/prefix"). Requests still carry `Host: name:port`
 * (and, over https, the name as TLS server name), as if the name had been dialled.
 */
export function parseVllmTarget(target: string): TargetSpec {
  const url = dnsUrl(target);
  if (!url) return { kind: "static", id: target };
  const host = url.hostname.replace(/^\[(.*)\]$/, "$1");
  const port = url.port === "" ? (url.protocol === "https:" ? 443 : 80) : Number(url.port);
  const path = url.pathname.replace(/\/+$/, "");
  return {
    kind: "dns",
    host,
    port,
    makeId: (address) => `${url.protocol}//${formatHostPort(address, port)}${path}`,
  };
}

function virtualHost(target: string): VllmVirtualHost | undefined {
  const url = dnsUrl(target);
  if (!url) return undefined;
  const name = url.hostname.replace(/^\[(.*)\]$/, "$1");
  return { host: url.host, servername: isIP(name) === 0 ? name : undefined };
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
          address === undefined ? undefined : virtualHost(target),
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
      const reason = new GatewayError(
        status.UNAVAILABLE,
        "SHUTTING_DOWN",
        `backend ${opts.name}: the backend client is closed`,
      );
      await Promise.all([...created].map((e) => e.destroy(reason)));
      created.clear();
      await probed[Symbol.asyncDispose]();
    },
  };
}
