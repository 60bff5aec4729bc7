/**
 * The arithmetic of the flow control scenario, kept apart from the servers
 * so it can be tested: who got what share of the served items, how many
 * requests each client had refused, and a stream's figures as a row of the
 * report.
 */
import type { StreamResult } from "../load-streams.js";
import type { TritonSimSpec } from "../processes.js";
import type { CacheFigures, RoundFigures } from "../results.js";

/** A queue or admission refusal. */
export const REFUSED = "RESOURCE_EXHAUSTED";
/** An answer that came after the request's deadline (the client gave up waiting). */
export const TOO_LATE = "DEADLINE_EXCEEDED";

/** How long the simulator takes for a full batch. */
export function fullBatchMs(sim: TritonSimSpec): number {
  return sim.baseMs + sim.perItemMs * sim.maxBatchSize;
}

/** Items per second the simulator serves with full batches on every instance. */
export function capacityItemsPerS(sim: TritonSimSpec): number {
  return (sim.instances * sim.maxBatchSize * 1000) / fullBatchMs(sim);
}

/**
 * Items the backend served the stream in the window: those of the answers
 * that came inside it, whenever their request left. Counting the window's
 * requests answered instead would credit a client whose queue grows with
 * what is served after the window closes.
 */
export function servedItems(r: StreamResult): number {
  return r.answeredInWindow * r.docsPerRequest;
}

/**
 * Items of the window's requests that were answered, inside the window or
 * after it: the count the shares were judged by before answer times were
 * recorded, still reported beside them.
 */
export function requestedItemsAnswered(r: StreamResult): number {
  return r.answered * r.docsPerRequest;
}

/**
 * Each client's share of the items served to `clients`, in percent (NaN for
 * every client when nothing was served). A client with several streams
 * counts them together. `count` says what a stream was served (servedItems
 * by default).
 */
export function servedShares(
  results: readonly StreamResult[],
  clients: readonly string[],
  count: (r: StreamResult) => number = servedItems,
): Record<string, number> {
  const served = (c: string) => results.filter((r) => r.client === c).reduce((n, r) => n + count(r), 0);
  const total = clients.reduce((n, c) => n + served(c), 0);
  return Object.fromEntries(clients.map((c) => [c, total > 0 ? (100 * served(c)) / total : Number.NaN]));
}

/** Requests of `client` that failed with `status` (REFUSED by default). */
export function countStatus(results: readonly StreamResult[], client: string, status = REFUSED): number {
  return results.filter((r) => r.client === client).reduce((n, r) => n + (r.errorCounts[status] ?? 0), 0);
}

/**
 * Bulk's part of the refusals of bulk and background work, in percent: 0
 * when background is shed first and bulk is served; NaN when nothing was
 * refused (there is no order to judge).
 */
export function bulkShareOfRefusals(bulkRefused: number, backgroundRefused: number): number {
  const total = bulkRefused + backgroundRefused;
  return total > 0 ? (100 * bulkRefused) / total : Number.NaN;
}

/** The stream's requests in the window as one round's figures (CPU of the processes watched). */
export function streamFigures(
  r: StreamResult,
  cores: Readonly<Record<string, number>>,
  cache?: CacheFigures,
): RoundFigures {
  const measuredS = r.measuredMs / 1000;
  return {
    requests: r.answeredInWindow,
    items: servedItems(r),
    measuredS,
    reqPerS: measuredS > 0 ? r.answeredInWindow / measuredS : 0,
    itemsPerS: measuredS > 0 ? servedItems(r) / measuredS : 0,
    p50Ms: r.latency.p50Ms,
    p95Ms: r.latency.p95Ms,
    p99Ms: r.latency.p99Ms,
    maxMs: r.latency.maxMs,
    errors: r.errors,
    errorCounts: r.errorCounts,
    cores,
    cache,
  };
}

/** The stream of `client` in one round's results; throws when it is missing (a scenario bug). */
export function streamOf(results: readonly StreamResult[], client: string): StreamResult {
  const r = results.find((x) => x.client === client);
  if (!r) throw new Error(`no stream for client ${client}`);
  return r;
}
