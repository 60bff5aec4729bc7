import {
  type BackendEndpoint,
  type InferResult,
  PRIORITY_BANDS,
  type PriorityBand,
} from "../backends/backend-client.js";
import type { BatchTrace, CallTrace, RequestTrace } from "../tracing/request-trace.js";
import { GatewayError } from "../util/gateway-error.js";
import type { Carrier, Job } from "./job.js";

/** A contiguous run [start, end) of one job's items. */
export interface BatchPart {
  readonly job: Job;
  readonly start: number;
  readonly end: number;
}

/**
 * One backend call's worth of items: the parts of the jobs it carries, in
 * order. It is aborted when none of its jobs waits for it any more. `P` is
 * what an isolation call carries (see input-isolation.ts).
 */
export class Batch<P> implements Carrier {
  readonly parts: readonly BatchPart[];
  /** Items sent. */
  readonly items: number;
  /** 0 for the first call, 1 for its retry. */
  readonly attempt: number;
  readonly controller = new AbortController();
  /** Spans of the batch (shared by its attempts) and of this attempt's call; undefined when untraced. */
  readonly trace: BatchTrace | undefined;
  call: CallTrace | undefined;
  /** Set on a call made to isolate a rejected input. */
  readonly probe: P | undefined;
  /** A retry of a batch that another endpoint rejected, every part of its split too. */
  readonly rejectedElsewhere: boolean;
  /** Jobs in `parts` still waiting for an answer. */
  #liveJobs = 0;

  constructor(
    parts: readonly BatchPart[],
    attempt: number,
    trace: BatchTrace | undefined,
    probe: P | undefined,
    rejectedElsewhere: boolean,
  ) {
    this.parts = parts;
    this.items = countItems(parts);
    this.attempt = attempt;
    this.trace = trace;
    this.probe = probe;
    this.rejectedElsewhere = rejectedElsewhere;
    for (const part of parts) {
      // A job split within this batch appears in several parts but counts once.
      if (part.job.join(this)) {
        this.#liveJobs++;
        if (attempt === 0 && probe === undefined) trace?.addRequest(part.job.trace);
      }
    }
  }

  /**
   * Calls `endpoint` (never throws: a throw becomes a rejection). The call
   * runs until the latest deadline of its requests or the backend's
   * `callTimeoutMs`, whichever is first; running out of the latter is the
   * endpoint's fault, of the former the client's. Not the earliest: a
   * request whose deadline passes first fails alone (its own timer), and
   * the call goes on for the others, which fair sharing mixes in with
   * requests queued long before them; it is aborted once none waits.
   */
  callEndpoint(
    endpoint: BackendEndpoint,
    nowMs: number,
    callTimeoutMs: number | undefined,
  ): Promise<InferResult> {
    const { queries, documents, latestDeadlineMs, band } = gather(this.parts);
    this.call = this.trace?.startCall(endpoint.id, this.attempt, this.items);
    const deadlineLeftMs = Number.isFinite(latestDeadlineMs)
      ? Math.max(0, latestDeadlineMs - nowMs)
      : undefined;
    const backendLimited =
      callTimeoutMs !== undefined && (deadlineLeftMs === undefined || callTimeoutMs < deadlineLeftMs);
    try {
      return endpoint.infer(
        { queries, documents },
        {
          signal: this.controller.signal,
          timeoutMs: backendLimited ? callTimeoutMs : deadlineLeftMs,
          timeoutIsBackendLimit: backendLimited,
          band,
          traceHeaders: this.call?.headers,
        },
      );
    } catch (err) {
      return Promise.reject(err);
    }
  }

  jobGone(): void {
    if (--this.#liveJobs === 0) {
      this.controller.abort(new GatewayError("CLIENT_CANCELLED", "every request of the batch has gone"));
    }
  }

  /** Its jobs stop counting on it (it is answered, failed for good, or handed on to a retry or a search). */
  release(): void {
    for (const part of this.parts) part.job.leave(this);
  }
}

/**
 * The texts of `parts`, in order, the latest deadline among their requests
 * (+Infinity: one has none) and the highest band among them.
 */
export function gather(parts: readonly BatchPart[]): {
  queries: string[];
  documents: string[];
  latestDeadlineMs: number;
  band: PriorityBand | undefined;
} {
  const queries: string[] = [];
  const documents: string[] = [];
  let latestDeadlineMs = Number.NEGATIVE_INFINITY;
  let band: PriorityBand | undefined;
  for (const part of parts) {
    for (let i = part.start; i < part.end; i++) {
      queries.push(part.job.query);
      documents.push(part.job.documents[i]!);
    }
    if (part.job.deadlineMs > latestDeadlineMs) latestDeadlineMs = part.job.deadlineMs;
    const own = part.job.priority;
    if (band === undefined || PRIORITY_BANDS.indexOf(own) < PRIORITY_BANDS.indexOf(band)) band = own;
  }
  return { queries, documents, latestDeadlineMs, band };
}

export function countItems(parts: readonly BatchPart[]): number {
  let n = 0;
  for (const part of parts) n += part.end - part.start;
  return n;
}

/** The request whose trace a batch joins: the first recording one, else the first with a context to pass on. */
export function leadTrace(parts: readonly BatchPart[]): RequestTrace | undefined {
  let first: RequestTrace | undefined;
  for (const part of parts) {
    const trace = part.job.trace;
    if (trace === undefined) continue;
    if (trace.recording) return trace;
    first ??= trace;
  }
  return first;
}
