import { createHash } from "node:crypto";
import { status } from "@grpc/grpc-js";
import type { Batcher, ScoredItems } from "../batching/batcher.js";
import type { Logger } from "../observability/logger.js";
import { inSample } from "../routing/sampler.js";
import { capClientText } from "../util/client-text.js";
import type { Clock } from "../util/clock.js";
import { GatewayError } from "../util/gateway-error.js";
import { type Comparison, compareScores } from "./compare.js";
import type { ComparisonLog } from "./comparison-log.js";
import type { ComparisonRecord, ModelAnswer } from "./comparison-record.js";

/** Why a shadow request produced no comparison. */
export type ShadowDropReason = "queue_full" | "unavailable" | "deadline" | "error";

/** What the shadow path reports; wired to metrics. Never throws. */
export interface ShadowObserver {
  dropped(experiment: string, reason: ShadowDropReason): void;
  compared(experiment: string, c: Comparison, teacherLatencyMs: number): void;
  noiseFloor(experiment: string, c: Comparison): void;
}

export interface ShadowOptions {
  /** Config name of the teacher backend the shadow goes to. */
  readonly backend: string;
  readonly percent: number;
  readonly salt: string;
  readonly topK: number;
  /** Share (%) of shadowed requests sent to the teacher twice, to measure its self-disagreement. */
  readonly noiseFloorPercent: number;
  readonly timeoutMs: number;
  /** The shadow path's own batcher (own queue, concurrency and breakers) in front of the teacher. */
  readonly batcher: Batcher;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly observer: ShadowObserver;
  readonly log?: ComparisonLog | undefined;
  readonly logSampleRate: number;
  readonly redactText: boolean;
  readonly random?: () => number;
}

/** A primary request the student answered, as the shadow path needs it. */
export interface ShadowInput {
  readonly requestId: string;
  readonly experiment: string;
  readonly route: string;
  readonly query: { readonly text: string; readonly locale: string };
  /** The model texts the student scored (the teacher scores the same). */
  readonly queryText: string;
  readonly documentIds: readonly string[];
  readonly documentTexts: readonly string[];
  readonly student: { readonly backend: string; readonly latencyMs: number; readonly scored: ScoredItems };
}

export interface ShadowSender {
  /** Sticky sampling by routing key (or request id), independent of the canary's. */
  selects(requestId: string, routingKey: string): boolean;
  /** Changes the sampled share (live reconfiguration); the cohort grows or shrinks, keys keep their hash. */
  setPercent(percent: number): void;
  /** Mirrors to the teacher; call after the primary answer is sent. Never throws, never rejects. */
  mirror(input: ShadowInput): void;
  /** Waits for shadow work in flight and flushes the comparison log. */
  close(): Promise<void>;
}

/**
 * The shadow path: requests the student answered are mirrored to the teacher
 * through their own bounded batcher, after the primary answer has left. The
 * two answers are compared (label agreement, |ΔER|, Kendall τ, NDCG@k, top-k
 * overlap) into metrics and, sampled, into the comparison log. When the shadow
 * queue is full or its breakers are open the work is dropped and counted: it
 * can never delay, fail or slow a primary request.
 */
export function createShadowSender(opts: ShadowOptions): ShadowSender {
  const log = opts.logger.child({ component: "shadow" });
  const random = opts.random ?? Math.random;
  const pending = new Set<Promise<void>>();
  let percent = opts.percent;

  function submit(input: ShadowInput): Promise<{ scored: ScoredItems; latencyMs: number }> {
    const started = opts.clock.now();
    return opts.batcher
      .submit(input.queryText, input.documentTexts, {
        requestId: input.requestId,
        priority: "bulk",
        deadlineMs: started + opts.timeoutMs,
      })
      .then((scored) => ({ scored, latencyMs: opts.clock.now() - started }));
  }

  async function run(input: ShadowInput): Promise<void> {
    const experiment = input.experiment;
    const repeat = random() * 100 < opts.noiseFloorPercent;
    let teacher: { scored: ScoredItems; latencyMs: number };
    let again: { scored: ScoredItems; latencyMs: number } | undefined;
    try {
      const first = submit(input);
      const second = repeat ? submit(input) : undefined;
      // Both settle before we look, so neither rejection goes unhandled.
      const [a, b] = await Promise.allSettled([first, second ?? Promise.resolve(undefined)]);
      if (a.status === "rejected") throw a.reason;
      teacher = a.value;
      again = b.status === "fulfilled" ? b.value : undefined;
    } catch (err) {
      opts.observer.dropped(experiment, dropReason(err));
      return;
    }
    const comparison = compareScores(
      input.student.scored.probabilities,
      teacher.scored.probabilities,
      opts.topK,
    );
    opts.observer.compared(experiment, comparison, teacher.latencyMs);
    if (again) {
      opts.observer.noiseFloor(
        experiment,
        compareScores(teacher.scored.probabilities, again.scored.probabilities, opts.topK),
      );
    }
    if (opts.log && random() < opts.logSampleRate) {
      opts.log.write(toRecord(input, opts.backend, teacher, again, comparison, opts.redactText));
    }
  }

  return {
    selects(requestId, routingKey) {
      return inSample(percent, opts.salt, routingKey === "" ? requestId : routingKey);
    },
    setPercent(p) {
      percent = p;
    },
    mirror(input) {
      const p = run(input).catch((err: unknown) => {
        log.error({ err, requestId: capClientText(input.requestId) }, "shadow comparison failed");
        opts.observer.dropped(input.experiment, "error");
      });
      pending.add(p);
      void p.finally(() => pending.delete(p));
    },
    async close() {
      await Promise.allSettled([...pending]);
      await opts.log?.close();
    },
  };
}

function dropReason(err: unknown): ShadowDropReason {
  if (!(err instanceof GatewayError)) return "error";
  switch (err.code) {
    case status.RESOURCE_EXHAUSTED:
      return "queue_full";
    case status.UNAVAILABLE:
      return "unavailable";
    case status.DEADLINE_EXCEEDED:
      return "deadline";
    default:
      return "error";
  }
}

function rows(p: Float32Array): number[][] {
  const out: number[][] = [];
  for (let i = 0; i < p.length; i += 5) {
    out.push(Array.from(p.subarray(i, i + 5), (x) => Math.round(x * 1e6) / 1e6));
  }
  return out;
}

function answer(backend: string, scored: ScoredItems, latencyMs: number): ModelAnswer {
  return {
    backend,
    model: scored.model.name,
    version: scored.model.version,
    latencyMs: Math.round(latencyMs * 1000) / 1000,
    probabilities: rows(scored.probabilities),
  };
}

function sha256(text: string): string {
  return createHash("sha256").update(text, "utf8").digest("hex");
}

function toRecord(
  input: ShadowInput,
  teacherBackend: string,
  teacher: { scored: ScoredItems; latencyMs: number },
  again: { scored: ScoredItems; latencyMs: number } | undefined,
  c: Comparison,
  redact: boolean,
): ComparisonRecord {
  const record: ComparisonRecord = {
    v: 1,
    time: new Date().toISOString(),
    // Capped like every echo of a client string; document ids stay whole (they key the dataset).
    requestId: capClientText(input.requestId),
    experiment: capClientText(input.experiment),
    route: input.route,
    // The query as the models saw it (normalised, within its byte budget), like the documents' model text.
    query: redact
      ? { text: null, locale: input.query.locale, sha256: sha256(input.queryText) }
      : { text: input.queryText, locale: input.query.locale },
    documents: input.documentIds.map((id, i) => {
      const text = input.documentTexts[i]!;
      return redact ? { id, modelText: null, sha256: sha256(text) } : { id, modelText: text };
    }),
    student: answer(input.student.backend, input.student.scored, input.student.latencyMs),
    teacher: answer(teacherBackend, teacher.scored, teacher.latencyMs),
    comparison: {
      labelAgreement: c.labelAgreement,
      meanAbsErDelta: c.meanAbsErDelta,
      kendallTau: c.kendallTau ?? null,
      spearman: c.spearman ?? null,
      ndcgAtK: c.ndcgAtK ?? null,
      topKOverlap: c.topKOverlap,
      k: c.k,
    },
  };
  if (again) record.teacherRepeat = answer(teacherBackend, again.scored, again.latencyMs);
  return record;
}
