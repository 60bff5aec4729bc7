/**
 * An in-process stand-in for vLLM's OpenAI-compatible server hosting the
 * relevance teacher: `/classify` (a pooling deployment) and `/v1/completions`
 * (a generate deployment) on one port, with vLLM's shapes, status codes and
 * error bodies, its health, model list, version and Prometheus endpoints,
 * continuous batching (`VllmScheduler`) and deterministic teacher scores
 * (`teacherProbabilities`) so tests can predict every probability.
 *
 * Test hooks beyond vLLM: the `x-sim-shuffle-choices: 1` request header (or
 * the `shuffleChoices` option) returns `choices` (and `/classify` `data`) out
 * of index order, which a real server may do, so clients must match by
 * `index`; `setHealthy(false)` plays a dead engine (`/health` 503, inference
 * 500); `stop()` plays a crash (connections refused from then on); injected
 * faults (faults.ts, vllm-faults.ts) set at creation, with `setFaults` /
 * `clearFaults`, or over HTTP at `/sim/faults` (see docs/fault-injection.md).
 */
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { AddressInfo } from "node:net";
import { systemClock } from "../../../util/clock.js";
import { serveFaultControl } from "../fault-control.js";
import { FaultInjector, VLLM_MALFORMED_KINDS } from "../faults.js";
import { ReceivedTraces } from "../received-traces.js";
import type { VllmSim, VllmSimOptions } from "./api.js";
import { createApiKeyCheck, UNAUTHORIZED_BODY } from "./auth.js";
import {
  classifyBody,
  completionBody,
  completionFinishReason,
  modelListBody,
  runPrompts,
  type SequenceHooks,
} from "./endpoints.js";
import { errorBody, VllmSimError } from "./errors.js";
import { faultBeforeWork, malformedJson, poisonError, sickEngineError } from "./faults.js";
import { DEFAULT_MAX_BODY_BYTES, readJson, sendEmpty, sendJson, sendText } from "./http.js";
import { VllmSimMetrics } from "./metrics.js";
import { DEFAULT_VLLM_SIM_COST, VllmScheduler, validateVllmCost } from "./scheduler.js";
import { parseClassify, parseCompletion, type ServedModel } from "./validation.js";

export type { FaultKind, FaultSpec } from "../faults.js";
export { VLLM_MALFORMED_KINDS } from "../faults.js";
export { type ReceivedTrace, SIM_TRACE_HISTORY } from "../received-traces.js";
export type { VllmSim, VllmSimOptions, VllmSimStats } from "./api.js";
export { DEFAULT_MAX_BODY_BYTES } from "./http.js";
export { SIM_MAX_LOGPROBS } from "./logprobs.js";
export { DEFAULT_VLLM_SIM_COST, type VllmSimCost } from "./scheduler.js";
export {
  parseTeacherInput,
  simTokenCount,
  simTruncate,
  type TeacherPair,
  type TruncationSide,
  teacherLogits,
  teacherProbabilities,
} from "./scores.js";
export { VLLM_MAX_COMPLETION_PROMPTS } from "./validation.js";

/** vLLM's default port. */
export const DEFAULT_VLLM_SIM_PORT = 8000;
/** What `GET /version` reports: a release with the current error shape and `/classify`. */
export const SIM_VLLM_VERSION = "0.11.0";

type Route = "health" | "models" | "version" | "metrics" | "classify" | "completions";
const ROUTES: Record<string, { route: Route; method: "GET" | "POST" }> = {
  "/health": { route: "health", method: "GET" },
  "/v1/models": { route: "models", method: "GET" },
  "/version": { route: "version", method: "GET" },
  "/metrics": { route: "metrics", method: "GET" },
  "/classify": { route: "classify", method: "POST" },
  "/v1/completions": { route: "completions", method: "POST" },
};

export async function createVllmSim(opts: VllmSimOptions = {}): Promise<VllmSim> {
  const host = opts.host ?? "127.0.0.1";
  const clock = opts.clock ?? systemClock;
  const logger = opts.logger;
  const served: ServedModel = {
    name: opts.model ?? "relevance-teacher",
    maxModelLen: opts.maxModelLen ?? 2048,
    priorityScheduling: opts.schedulingPolicy === "priority",
  };
  if (!Number.isInteger(served.maxModelLen) || served.maxModelLen < 2) {
    throw new RangeError(`vllm sim: maxModelLen must be an integer >= 2, got ${served.maxModelLen}`);
  }
  const legacy = opts.legacyErrors ?? false;
  const maxBodyBytes = opts.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  let cost = validateVllmCost({ ...DEFAULT_VLLM_SIM_COST, ...opts.cost });
  const engine = new VllmScheduler(clock, () => cost, {
    maxNumSeqs: opts.maxNumSeqs ?? 64,
    maxNumBatchedTokens: opts.maxNumBatchedTokens ?? 8192,
  });
  const metrics = new VllmSimMetrics(served.name, () => ({
    running: engine.running,
    waiting: engine.waiting,
  }));
  const faults = new FaultInjector({
    malformedKinds: VLLM_MALFORMED_KINDS,
    seed: opts.faultSeed ?? 1,
    clock,
    onInjected: metrics.injected,
    ...(opts.faults ? { spec: opts.faults } : {}),
  });
  const counters = { requests: 0, items: 0, failures: 0 };
  const traces = new ReceivedTraces(logger);
  let healthy = opts.healthy ?? true;
  let warnedTemperature = false;
  const startedAt = Math.floor(Date.now() / 1000);

  const hooks = (reason: "stop" | "length", generated: number): SequenceHooks => ({
    started: () => counters.items++,
    finished: (prompt) => metrics.finished(reason, prompt.tokens, generated),
  });

  async function infer(req: IncomingMessage, res: ServerResponse, route: "classify" | "completions") {
    counters.requests++;
    const requestId = req.headers["x-request-id"];
    traces.record(
      req.headers.traceparent,
      req.headers.tracestate,
      typeof requestId === "string" ? requestId : "",
    );
    const abort = new AbortController();
    let settled = false;
    const settle = (ok: boolean) => {
      if (settled) return;
      settled = true;
      if (!ok) counters.failures++;
    };
    // The client went away before the answer: vLLM cancels the request's work.
    res.on("close", () => {
      if (res.writableFinished) return;
      settle(false);
      abort.abort();
    });
    const shuffle = (opts.shuffleChoices ?? false) || req.headers["x-sim-shuffle-choices"] === "1";
    try {
      if (!healthy) {
        throw new VllmSimError(
          500,
          "InternalServerError",
          "EngineCore encountered an issue. See stack trace (above) for the root cause.",
        );
      }
      const raw = await readJson(req, maxBodyBytes);
      let work: () => Promise<Record<string, unknown>>;
      let prompts: readonly { readonly text: string }[];
      if (route === "classify") {
        const job = parseClassify(raw, served);
        prompts = job.prompts;
        work = async () => {
          await runPrompts(engine, job.prompts, job.priority, hooks("stop", 0), abort.signal);
          return classifyBody(job, shuffle, opts.id2label);
        };
      } else {
        const job = parseCompletion(raw, served);
        prompts = job.prompts;
        if (job.temperatureUnset && !warnedTemperature) {
          warnedTemperature = true;
          logger?.warn("completion without temperature: a real server would sample at 1.0; send 0");
        }
        work = async () => {
          await runPrompts(
            engine,
            job.prompts,
            job.priority,
            hooks(completionFinishReason(job), 1),
            abort.signal,
          );
          return completionBody(job, shuffle);
        };
      }
      const inputFault = faults.inputFault(prompts.map((p) => p.text));
      if (inputFault) throw inputFault === "poison" ? poisonError() : sickEngineError();
      // Only valid calls draw a fault: an invalid one gets vLLM's own 4xx, as from any server.
      const fault = faults.decide();
      const malformation = faults.malformed;
      // After a reset the "close" listener above has counted the failure; nothing is left to answer.
      if ((await faultBeforeWork(faults, fault, req, abort.signal)) === "reset") return;
      const body = await work();
      settle(true);
      if (fault === "malformed") sendText(res, 200, "application/json", malformedJson(body, malformation));
      else sendJson(res, 200, body);
    } catch (err) {
      settle(false);
      if (abort.signal.aborted) return;
      const e = err instanceof VllmSimError ? err : new VllmSimError(500, "InternalServerError", String(err));
      logger?.debug({ route, status: e.status, message: e.message }, "vllm sim error");
      // An unread body (413) would otherwise be parsed as the next request.
      sendJson(res, e.status, errorBody(e, legacy), e.status === 413 ? { connection: "close" } : {});
    }
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (serveFaultControl(req, res, faults, logger)) return;
    const path = (req.url ?? "/").split("?")[0]!;
    if (!apiKeyCheck(req, path)) return sendJson(res, 401, UNAUTHORIZED_BODY);
    const entry = ROUTES[path];
    if (!entry) return sendJson(res, 404, { detail: "Not Found" });
    if (req.method !== entry.method) {
      return sendJson(res, 405, { detail: "Method Not Allowed" }, { allow: entry.method });
    }
    switch (entry.route) {
      case "health":
        return sendEmpty(res, healthy ? 200 : 503);
      case "models":
        return sendJson(res, 200, modelListBody(served, startedAt));
      case "version":
        return sendJson(res, 200, { version: SIM_VLLM_VERSION });
      case "metrics":
        return sendText(res, 200, metrics.registry.contentType, await metrics.text());
      default:
        return infer(req, res, entry.route);
    }
  }

  const apiKeyCheck = createApiKeyCheck(opts.apiKey);
  const onRequest = (req: IncomingMessage, res: ServerResponse) => {
    handle(req, res).catch((err: unknown) => {
      logger?.error({ err }, "vllm sim: unhandled error");
      sendJson(res, 500, errorBody(new VllmSimError(500, "InternalServerError", String(err)), legacy));
    });
  };
  const server =
    opts.tls === undefined
      ? createServer(onRequest)
      : createHttpsServer({ cert: opts.tls.cert, key: opts.tls.key }, onRequest);
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(opts.port ?? DEFAULT_VLLM_SIM_PORT, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const scheme = opts.tls === undefined ? "http" : "https";
  const url = `${scheme}://${host.includes(":") ? `[${host}]` : host}:${port}`;
  logger?.info(
    { url, model: served.name, requiresApiKey: opts.apiKey !== undefined, faults: opts.faults },
    "vllm simulator listening",
  );

  let closed: Promise<void> | undefined;
  const stop = () => {
    if (closed) return;
    closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeAllConnections();
    engine.close();
    faults.close();
    logger?.info({ url }, "vllm simulator stopped");
  };
  const close = async () => {
    stop();
    await closed;
  };

  return {
    url,
    port,
    stats: () => ({
      ...counters,
      running: engine.running,
      waiting: engine.waiting,
      maxRunningSeen: engine.maxRunningSeen,
      faults: faults.counts(),
    }),
    receivedTraces: () => traces.list(),
    setCost(next) {
      cost = validateVllmCost({ ...cost, ...next });
    },
    setHealthy(next) {
      healthy = next;
    },
    setFaults(spec) {
      faults.set(spec);
      logger?.info({ faults: spec }, "fault spec set");
    },
    clearFaults() {
      faults.clear();
      logger?.info("fault spec cleared");
    },
    stop,
    close,
    [Symbol.asyncDispose]: close,
  };
}
