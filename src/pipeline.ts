import { status } from "@grpc/grpc-js";
import type { Counter, Histogram } from "prom-client";
import {
  malformedBody,
  type ValidatedFields,
  type ValidationLimits,
  validateDocuments,
  validateRequestFields,
} from "./api/validate.js";
import type { PairScorer, PairScores } from "./cache/index.js";
import {
  type DocumentScoreMessage,
  documentCount,
  type ScoreRequestMessage,
  type ScoreResponseMessage,
} from "./codec/index.js";
import type { ModelText } from "./model-text/index.js";
import type { Logger } from "./observability/logger.js";
import { codeName, type GatewayMetrics } from "./observability/metrics.js";
import type { ModelPreference, ModelRoleName, Router } from "./routing/router.js";
import type { AuthenticatedClient } from "./security/client-policy.js";
import type { ShadowInput, ShadowSender } from "./shadow/shadow-sender.js";
import type { TraceHeaders } from "./tracing/trace-headers.js";
import { disabledTracing, type Tracing } from "./tracing/tracing.js";
import type { CancelSignal } from "./util/cancel-signal.js";
import { capClientText, MAX_MESSAGE_CHARS } from "./util/client-text.js";
import type { Clock } from "./util/clock.js";
import { GatewayError } from "./util/gateway-error.js";

/** What the transport knows about a call. */
export interface RequestContext {
  /** Aborted when the client cancels. */
  readonly signal: CancelSignal;
  /** Clock time of the client's deadline, if it sent one. */
  readonly deadlineMs: number | undefined;
  /** The client's W3C trace context, if it sent a valid one. */
  readonly traceHeaders?: TraceHeaders | undefined;
  /** Who is calling (auth): its policy and rate limit are applied after validation. */
  readonly client: AuthenticatedClient;
}

export interface PipelineDeps {
  readonly limits: ValidationLimits;
  readonly modelText: ModelText;
  readonly router: Router;
  /** One scorer per configured backend, by config name: its batcher, behind its score cache. */
  readonly scorers: ReadonlyMap<string, PairScorer>;
  readonly roles: ReadonlyMap<string, ModelRoleName>;
  /** Whether a backend can take work now (has a ready endpoint). */
  readonly isAvailable: (backend: string) => boolean;
  readonly clock: Clock;
  readonly metrics: GatewayMetrics;
  readonly logger: Logger;
  readonly newRequestId: () => string;
  /** Mirrors student-answered requests to the teacher; absent when routing.shadow is not set. */
  readonly shadow?: ShadowSender | undefined;
  /** Spans of each request (tracing on); default off, which only passes a client's trace context on. */
  readonly tracing?: Tracing | undefined;
}

export interface Pipeline {
  score(request: ScoreRequestMessage, ctx: RequestContext): Promise<ScoreResponseMessage>;
  /** Counts and returns the answer to a body that did not decode as a ScoreRequest. */
  malformed(reason: string, client?: AuthenticatedClient): GatewayError;
  /** Counts and logs a request refused before it reached the pipeline (UNAUTHENTICATED), and returns its error. */
  refused(error: GatewayError): GatewayError;
}

/** The per-request metrics' label children for one (route, backend). */
interface RequestMetrics {
  readonly duration: Histogram.Internal<string>;
  /** By gRPC status code. */
  readonly byCode: Counter.Internal[];
}

const ROLE_NUMBER: Record<ModelRoleName, number> = { student: 1, teacher: 2 };

/**
 * The request path, top to bottom:
 *   validate fields → admit (client policy, rate) → route → load refusal → validate documents → model text
 *     → cache → batcher(backend).submit → respond
 *                                       └─▶ shadow.mirror (after the answer)
 * A request read off the wire has its documents decoded at "validate documents"
 * (DeferredScoreRequest): one refused for load never has them decoded.
 * Every call ends in exactly one response or one GatewayError, and in one
 * `requests_total` count.
 */
export function createPipeline(deps: PipelineDeps): Pipeline {
  const { clock, metrics, logger } = deps;
  const tracing = deps.tracing ?? disabledTracing;
  const log = logger.child({ component: "pipeline" });

  // prom-client's labels() hashes its arguments on every call; the children
  // are resolved once per (route, backend) and code instead. Routes and
  // backends are bounded by the config, codes by gRPC.
  const children = new Map<string, Map<string, RequestMetrics>>();
  function requestMetrics(route: string, backend: string): RequestMetrics {
    let byBackend = children.get(route);
    if (byBackend === undefined) {
      byBackend = new Map();
      children.set(route, byBackend);
    }
    let m = byBackend.get(backend);
    if (m === undefined) {
      m = { duration: metrics.requestDuration.labels(route, backend), byCode: [] };
      byBackend.set(backend, m);
    }
    return m;
  }

  function finish(route: string, backend: string, code: number, startedMs: number): void {
    const m = requestMetrics(route, backend);
    let counter = m.byCode[code];
    if (counter === undefined) {
      counter = metrics.requests.labels(route, backend, codeName(code));
      m.byCode[code] = counter;
    }
    counter.inc();
    m.duration.observe((clock.now() - startedMs) / 1000);
  }

  return {
    malformed(reason, client) {
      finish("none", "none", status.INVALID_ARGUMENT, clock.now());
      client?.count(status.INVALID_ARGUMENT);
      log.info({ code: "INVALID_ARGUMENT", reason: "INVALID_REQUEST" }, "malformed request body");
      return new GatewayError("INVALID_REQUEST", malformedBody(reason));
    },
    refused(error) {
      finish("none", "none", error.code, clock.now());
      log.info({ code: codeName(error.code), reason: error.reason }, error.message);
      return error;
    },
    async score(request, ctx) {
      const startedMs = clock.now();
      let route = "none";
      let backend = "none";
      let requestId = request.requestId;
      // Off: undefined, or the client's context to pass on. On: the request's server span.
      const trace = tracing.startRequest(ctx.traceHeaders);
      try {
        // 1. Validate the request's own fields and its document count: every input error names its field.
        const fields = validateRequestFields(request, deps.limits, deps.newRequestId);
        if (!fields.ok) throw fields.error;
        const head = fields.value;
        requestId = head.requestId;
        metrics.requestDocuments.observe(head.documentCount);

        // 1b. Admit: the client's permissions, document cap and rate (nothing to do for an unrestricted client).
        if (!ctx.client.unrestricted) {
          const refusal = ctx.client.admit(head);
          if (refusal !== undefined) throw refusal;
        }

        // 2. Route, once per request.
        const decision = deps.router.route(head);
        if (decision.kind === "reject") throw decision.error;
        route = decision.route;
        backend = decision.backend;
        // A sampled route whose backend is down falls back to the default, when its rule allows.
        if (decision.fallback !== undefined && !deps.isAvailable(backend)) {
          route = "fallback";
          backend = decision.fallback;
        }

        // 2b. Refused for load (the queue full, the predicted wait past the deadline): said before
        // the documents are decoded and their texts built, which for a large request costs more
        // than the refusal.
        const refusal = deps.scorers.get(backend)?.refusalFor?.(head.documentCount, {
          requestId,
          priority: head.priority,
          client: ctx.client.name,
          weight: ctx.client.weight,
          deadlineMs: ctx.deadlineMs,
          cachePolicy: head.cachePolicy,
        });
        if (refusal !== undefined) throw refusal;

        // 2c. Validate the documents (decoded here when they were deferred), and 3. build their model
        // text, the same for every backend. A request keeps only their ids and texts while it waits.
        const { ids, texts } = modelInput(head, deps);
        const query = deps.modelText.query(head.query.text);

        // 4. Answer from the backend's score cache what it holds; batch and score the rest.
        const submit = (name: string) => {
          const scorer = deps.scorers.get(name);
          if (!scorer) return Promise.reject(unavailableBackend(name, head.modelPreference));
          return scorer.submit(query, texts, {
            requestId,
            priority: head.priority,
            client: ctx.client.name,
            weight: ctx.client.weight,
            deadlineMs: ctx.deadlineMs,
            signal: ctx.signal,
            trace,
            cachePolicy: head.cachePolicy,
          });
        };
        let scored: PairScores;
        try {
          scored = await submit(backend);
        } catch (err) {
          // The probe had not noticed yet: the same fallback, once, while the deadline allows.
          if (decision.fallback === undefined || route === "fallback" || !isUnavailable(err)) throw err;
          route = "fallback";
          backend = decision.fallback;
          scored = await submit(backend);
        }

        // 5. Respond.
        const response: ScoreResponseMessage = {
          requestId,
          scores: toScores(ids, scored),
          model: {
            role: ROLE_NUMBER[deps.roles.get(backend) ?? "student"],
            name: scored.model.name,
            version: scored.model.version,
            backend,
          },
          route,
        };
        finish(route, backend, status.OK, startedMs);
        ctx.client.count(status.OK);
        // Logs and spans get the client's request_id capped; the response carries it whole.
        const loggedId = capClientText(requestId);
        trace?.end({ requestId: loggedId, documents: texts.length, route, backend, code: status.OK });
        // 6. Shadow: only what the student answered, and only after the answer has gone out.
        const shadow = deps.shadow;
        if (shadow && deps.roles.get(backend) === "student" && shadow.selects(requestId, head.routingKey)) {
          const input: ShadowInput = {
            requestId,
            experiment: head.experiment,
            route,
            query: head.query,
            queryText: query,
            documentIds: ids,
            documentTexts: texts,
            student: { backend, latencyMs: clock.now() - startedMs, scored },
          };
          // setImmediate runs after the transport has written the response this promise resolves into.
          setImmediate(() => shadow.mirror(input));
        }
        log.debug(
          { requestId: loggedId, route, backend, documents: texts.length, endpoint: scored.endpoint },
          "scored",
        );
        return response;
      } catch (err) {
        const error = GatewayError.from(err);
        // Possibly the rejected request_id itself, as long as the message it came in.
        const loggedId = capClientText(requestId);
        finish(route, backend, error.code, startedMs);
        ctx.client.count(error.code);
        trace?.end({
          requestId: loggedId,
          documents: documentCount(request),
          route,
          backend,
          code: error.code,
          reason: error.reason,
        });
        const fields = {
          requestId: loggedId,
          client: ctx.client.name,
          route,
          backend,
          code: codeName(error.code),
          reason: error.reason,
        };
        // A backend's message may quote a client's document: bounded like the status message.
        const message = capClientText(error.message, MAX_MESSAGE_CHARS);
        if (error.code === status.INTERNAL) log.error({ ...fields, err: error }, message);
        else log.info(fields, message);
        throw error;
      }
    },
  };
}

/**
 * Steps 2c and 3: the request's documents validated (decoded when they were
 * deferred; the request lets go of them), then their ids and model texts,
 * which are all a request holds of them while it waits in a queue: for a
 * 1,000-document request of the bench, under 470 kB of heap against 1.2 MB
 * with its documents.
 */
function modelInput(head: ValidatedFields, deps: PipelineDeps): { ids: string[]; texts: string[] } {
  const validation = validateDocuments(head, deps.limits);
  if (!validation.ok) throw validation.error;
  const documents = validation.value.documents;
  const n = documents.length;
  const ids = new Array<string>(n);
  const texts = new Array<string>(n);
  for (let i = 0; i < n; i++) {
    const doc = documents[i]!;
    ids[i] = doc.id;
    texts[i] = deps.modelText.document(doc);
  }
  return { ids, texts };
}

function toScores(ids: readonly string[], scored: PairScores): DocumentScoreMessage[] {
  const p = scored.probabilities;
  const cached = scored.cached;
  const scores = new Array<DocumentScoreMessage>(ids.length);
  for (let i = 0; i < ids.length; i++) {
    const o = i * 5;
    let label = 1;
    let best = p[o]!;
    let expected = 0;
    for (let k = 0; k < 5; k++) {
      const pk = p[o + k]!;
      expected += (k + 1) * pk;
      if (pk > best) {
        best = pk;
        label = k + 1;
      }
    }
    scores[i] = {
      documentId: ids[i]!,
      probabilities: p.subarray(o, o + 5),
      expectedRelevance: expected,
      label,
      cached: cached !== undefined && cached[i] === 1,
    };
  }
  return scores;
}

/** The backend cannot serve now (the catalogue's `fallback`): the route's fallback may answer. */
function isUnavailable(err: unknown): boolean {
  return err instanceof GatewayError && err.fallback;
}

function unavailableBackend(backend: string, preference: ModelPreference): GatewayError {
  return new GatewayError(
    "NO_BACKEND_FOR_ROLE",
    `backend ${backend} is not available in this gateway (model_preference ${preference})`,
  );
}
