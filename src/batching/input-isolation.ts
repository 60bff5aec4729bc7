import type { BackendEndpoint, InferResult } from "../backends/backend-client.js";
import type { BatchTrace } from "../tracing/request-trace.js";
import { GatewayError } from "../util/gateway-error.js";
import { type Batch, type BatchPart, countItems } from "./batch.js";
import type { IsolationBudget } from "./isolation-budget.js";
import type { Job } from "./job.js";
import type { BatcherObserver, InputRejectionOutcome } from "./observer.js";

/** What a search needs of its batcher: sending its calls, and answering or failing requests. */
export interface IsolationHost {
  /** Sends `parts` to `endpoint` as an isolation call; its answer comes back to `probeCompleted`. */
  sendProbe(
    endpoint: BackendEndpoint,
    parts: BatchPart[],
    attempt: number,
    trace: BatchTrace | undefined,
    probe: Probe,
  ): void;
  /** Answers `parts` (the items of one call, in order) with `result`. */
  answer(endpoint: BackendEndpoint, parts: readonly BatchPart[], result: InferResult): void;
  fail(job: Job, error: GatewayError): void;
  /** The retry of a batch the endpoint was blamed for; false when it cannot be retried. */
  retry(
    endpoint: BackendEndpoint,
    parts: readonly BatchPart[],
    attempt: number,
    trace: BatchTrace | undefined,
    error: GatewayError,
  ): boolean;
}

/** The search for the inputs that made an endpoint reject a batch. Its calls go to that endpoint. */
interface Isolation {
  readonly endpoint: BackendEndpoint;
  /** The rejection: the answer of requests the search cannot clear. */
  readonly error: GatewayError;
  /** The endpoint's answered calls when the search began. */
  readonly answeredAtStart: number;
  /** The rejected batch's attempt and trace, for its retry when the endpoint is at fault. */
  readonly attempt: number;
  readonly trace: BatchTrace | undefined;
  /** Calls this search may still make. */
  callsLeft: number;
  /** Calls in flight. */
  outstanding: number;
  /**
   * The endpoint answered a part: from then on a rejected part holds a
   * rejected input. Until then the rejected parts of the first split wait here.
   */
  confirmed: boolean;
  readonly unconfirmed: BatchPart[][];
  /** A part failed otherwise (deadline, cancellation, unreachable): the parts did not all fail alike. */
  failedOtherwise: boolean;
  /** Rounds of splits made before the endpoint was known healthy (see BLIND_SPLIT_ROUNDS). */
  blindRounds: number;
  outcome: InputRejectionOutcome | undefined;
  poisonFound: number;
}

/**
 * One isolation call. "split": a part of a split; its rejection, once the
 * endpoint is confirmed healthy, means it holds a rejected input. "left": the
 * left half of one request's items known to hold a rejected input; if it is
 * answered, the input is in `rest`.
 */
export interface Probe {
  readonly isolation: Isolation;
  readonly kind: "split" | "left";
  readonly rest: BatchPart | undefined;
}

/**
 * Rounds of splits a search makes while every part is rejected and the
 * endpoint answers nothing else, before it blames the endpoint. One round
 * cannot tell two rejected inputs in the two halves from a sick endpoint;
 * two can unless every quarter holds one.
 */
const BLIND_SPLIT_ROUNDS = 2;

/**
 * Finds the inputs behind input rejections. A batch failed with an input
 * rejection: one of its documents may have made the model server refuse
 * the whole batch, and that is no fault of the endpoint nor of the other
 * requests. `isolate` splits the batch (by request, then halving a
 * request's items) and sends the parts to the same endpoint: answered parts
 * answer their requests; once one part is answered the endpoint is healthy,
 * so a rejected part holds a rejected input, and the search narrows down to
 * it and fails only its request, naming the document. When every part of
 * the first split is rejected too and the endpoint answered no other call
 * meanwhile, the endpoint is at fault: it is reported (`reportFault`) and
 * the batch takes the usual path (retry elsewhere, or fail with the
 * rejection). So is a batch of one document, which cannot be split, and a
 * rejection from an endpoint whose last split showed it at fault, until it
 * answers again. A retry rejected alike by a second endpoint is searched at
 * once: two endpoints agree that the input is at fault.
 *
 * The search costs at most 2·⌈log₂ items⌉ + requests calls per batch, and
 * the items of all searches' calls stay within the isolation budget (by
 * default as many as the batches sent carried); past either, the requests
 * left fail with the rejection.
 */
export class InputIsolator {
  readonly #backend: string;
  readonly #budget: IsolationBudget;
  readonly #observer: BatcherObserver;
  readonly #host: IsolationHost;
  /** Endpoints whose last split showed them at fault, until they answer a call. */
  readonly #suspects = new Set<string>();
  /** Calls answered, per endpoint: a search learns from the answers to other batches too. */
  readonly #answered = new Map<string, number>();

  constructor(backend: string, budget: IsolationBudget, observer: BatcherObserver, host: IsolationHost) {
    this.#backend = backend;
    this.#budget = budget;
    this.#observer = observer;
    this.#host = host;
  }

  /** A first call of `items` items was sent: the isolation budget's base. */
  recordSent(items: number): void {
    this.#budget.recordSent(items);
  }

  /** `endpointId` answered a call (any call): it is no longer suspect. */
  answered(endpointId: string): void {
    this.#suspects.delete(endpointId);
    this.#answered.set(endpointId, (this.#answered.get(endpointId) ?? 0) + 1);
  }

  /**
   * `batch` failed with the input rejection `error`. Returns "isolating"
   * when the search has taken the batch over; otherwise the batch takes the
   * usual path, "blamed" when the endpoint was reported.
   */
  isolate(
    endpoint: BackendEndpoint,
    batch: Batch<Probe>,
    error: GatewayError,
  ): "isolating" | "blamed" | undefined {
    const live = batch.parts.filter((p) => !p.job.done);
    if (live.length === 0) return undefined;
    const items = countItems(live);
    // Rejected alike by the endpoint blamed before: two endpoints agree, the input is at fault.
    const retried = batch.rejectedElsewhere;
    if ((items === 1 && !retried) || this.#suspects.has(endpoint.id)) {
      endpoint.reportFault?.(error);
      this.#observer.inputRejection(endpoint.id, "endpoint_fault");
      return "blamed";
    }
    batch.release();
    const isolation: Isolation = {
      endpoint,
      error,
      answeredAtStart: this.#answered.get(endpoint.id) ?? 0,
      attempt: batch.attempt,
      trace: batch.trace,
      callsLeft: 2 * Math.ceil(Math.log2(items)) + live.length,
      outstanding: 0,
      confirmed: retried,
      unconfirmed: [],
      failedOtherwise: false,
      blindRounds: retried ? 0 : 1,
      outcome: undefined,
      poisonFound: 0,
    };
    if (retried) this.#search(isolation, live);
    else this.#split(isolation, live);
    this.#step(isolation);
    return "isolating";
  }

  /** An isolation call's answer: `result`, or `error`. */
  probeCompleted(
    probe: Probe,
    parts: readonly BatchPart[],
    result: InferResult | undefined,
    error: GatewayError | undefined,
  ): void {
    const isolation = probe.isolation;
    isolation.outstanding--;
    if (result) {
      if (probe.kind === "left") {
        this.#search(isolation, [probe.rest!]);
      } else {
        this.#host.answer(isolation.endpoint, parts, result);
        if (!isolation.confirmed) {
          isolation.confirmed = true;
          for (const group of isolation.unconfirmed.splice(0)) this.#search(isolation, group);
        }
      }
    } else if (error!.inputRejection) {
      if (isolation.confirmed) this.#search(isolation, parts);
      else isolation.unconfirmed.push([...parts]);
    } else {
      // Failed otherwise (deadline, unreachable…): its requests get that answer, as from any batch.
      isolation.failedOtherwise = true;
      for (const part of parts) this.#host.fail(part.job, error!);
    }
    this.#step(isolation);
  }

  /** Sends the two halves of `group` (requests first, then a request's items). */
  #split(isolation: Isolation, group: readonly BatchPart[]): void {
    const [left, right] = halve(group);
    if (!this.#takeCalls(isolation, 2, countItems(group))) {
      this.#giveUp(isolation, group);
      return;
    }
    this.#send(isolation, left, { isolation, kind: "split", rest: undefined });
    this.#send(isolation, right, { isolation, kind: "split", rest: undefined });
  }

  /** Narrows down `group`, known to hold a rejected input, to one document (the endpoint is healthy). */
  #search(isolation: Isolation, group: readonly BatchPart[]): void {
    const live = group.filter((p) => !p.job.done);
    if (live.length === 0) return;
    if (live.length < group.length) {
      // The rejected input may have been in a request that has gone since: try the rest again.
      if (!this.#takeCalls(isolation, 1, countItems(live))) this.#giveUp(isolation, live);
      else this.#send(isolation, live, { isolation, kind: "split", rest: undefined });
      return;
    }
    if (live.length > 1) {
      this.#split(isolation, live);
      return;
    }
    const part = live[0]!;
    if (part.end - part.start === 1) {
      this.#rejectDocument(isolation, part);
      return;
    }
    // The request fails whatever its other documents do: only the rejected one's index is wanted.
    const mid = part.start + Math.ceil((part.end - part.start) / 2);
    if (!this.#takeCalls(isolation, 1, mid - part.start)) {
      this.#giveUp(isolation, live);
      return;
    }
    this.#send(isolation, [{ job: part.job, start: part.start, end: mid }], {
      isolation,
      kind: "left",
      rest: { job: part.job, start: mid, end: part.end },
    });
  }

  /** Settles what the search's answers so far decide, once no call of it is in flight. */
  #step(isolation: Isolation): void {
    if (isolation.outstanding > 0) return;
    const endpoint = isolation.endpoint;
    if (
      !isolation.confirmed &&
      isolation.unconfirmed.length > 0 &&
      (this.#answered.get(endpoint.id) ?? 0) > isolation.answeredAtStart
    ) {
      // Every part was rejected, but the endpoint answered other batches meanwhile: it is healthy.
      isolation.confirmed = true;
      for (const group of isolation.unconfirmed.splice(0)) this.#search(isolation, group);
      if (isolation.outstanding > 0) return;
    }
    if (
      !isolation.confirmed &&
      isolation.unconfirmed.length > 0 &&
      !isolation.failedOtherwise &&
      isolation.blindRounds < BLIND_SPLIT_ROUNDS
    ) {
      // Every part was rejected and the endpoint answered nothing else. Two rejected inputs,
      // one in each half, look the same as a sick endpoint: split the parts once more first.
      isolation.blindRounds++;
      for (const group of isolation.unconfirmed.splice(0)) {
        const live = group.filter((p) => !p.job.done);
        if (countItems(live) > 1) this.#split(isolation, live);
        else if (live.length > 0) isolation.unconfirmed.push(live);
      }
      if (isolation.outstanding > 0) return;
    }
    let traceHandedOn = false;
    if (!isolation.confirmed && isolation.failedOtherwise) {
      // No part was answered, but not every part was rejected: nothing to conclude.
      isolation.outcome = "inconclusive";
      for (const group of isolation.unconfirmed.splice(0)) {
        for (const part of group) this.#host.fail(part.job, isolation.error);
      }
    } else if (!isolation.confirmed && isolation.unconfirmed.length > 0) {
      // Every part was rejected: the endpoint, not an input, is at fault.
      isolation.outcome = "endpoint_fault";
      this.#suspects.add(endpoint.id);
      endpoint.reportFault?.(isolation.error);
      const parts = isolation.unconfirmed.splice(0).flat();
      traceHandedOn = this.#host.retry(endpoint, parts, isolation.attempt, isolation.trace, isolation.error);
      if (!traceHandedOn) for (const part of parts) this.#host.fail(part.job, isolation.error);
    }
    const outcome = isolation.outcome ?? (isolation.poisonFound > 0 ? "isolated" : "not_reproduced");
    this.#observer.inputRejection(endpoint.id, outcome);
    if (!traceHandedOn) isolation.trace?.end(outcome === "not_reproduced" ? undefined : isolation.error);
  }

  /** Takes `calls` calls from the search's allowance and their `items` from the isolation budget. */
  #takeCalls(isolation: Isolation, calls: number, items: number): boolean {
    if (isolation.callsLeft < calls || !this.#budget.tryTake(items)) return false;
    isolation.callsLeft -= calls;
    return true;
  }

  /** The search cannot go on: the requests left fail with the rejection. */
  #giveUp(isolation: Isolation, group: readonly BatchPart[]): void {
    isolation.outcome = "budget_exhausted";
    for (const part of group) this.#host.fail(part.job, isolation.error);
  }

  #rejectDocument(isolation: Isolation, part: BatchPart): void {
    isolation.poisonFound++;
    this.#observer.poisonItem(isolation.endpoint.id);
    const error = new GatewayError(
      "DOCUMENT_REJECTED",
      `documents[${part.start}]: backend ${this.#backend} cannot score this document; ` +
        `the model server rejected it: ${isolation.error.message}`,
      { cause: isolation.error },
    );
    this.#host.fail(part.job, error);
  }

  #send(isolation: Isolation, parts: BatchPart[], probe: Probe): void {
    isolation.outstanding++;
    this.#observer.isolationCall(isolation.endpoint.id);
    this.#host.sendProbe(isolation.endpoint, parts, isolation.attempt, isolation.trace, probe);
  }
}

/**
 * Two non-empty halves of `group` (two items at least): whole requests, as
 * even in items as the boundaries allow, or the two halves of a lone request.
 */
export function halve(group: readonly BatchPart[]): [BatchPart[], BatchPart[]] {
  if (group.length === 1) {
    const { job, start, end } = group[0]!;
    const mid = start + Math.ceil((end - start) / 2);
    return [[{ job, start, end: mid }], [{ job, start: mid, end }]];
  }
  const half = countItems(group) / 2;
  let cut = 1;
  let best = Number.POSITIVE_INFINITY;
  let taken = 0;
  for (let k = 1; k < group.length; k++) {
    taken += group[k - 1]!.end - group[k - 1]!.start;
    const off = Math.abs(taken - half);
    if (off < best) {
      best = off;
      cut = k;
    }
  }
  return [group.slice(0, cut), group.slice(cut)];
}
