import { type BackendEndpoint, isUsable } from "./backend-client.js";

/** Why no endpoint can take a batch at all (the `rejected` metric's reasons). */
export type UnavailableCause = "circuit_open" | "no_ready_endpoint";

/**
 * What a pick decided, tagged as grpc-js's picker tags its results:
 * - "pick": send the batch to `endpoint`;
 * - "busy": usable endpoints exist but every one has its batches in flight at the cap:
 *   keep the work queued, a completing batch picks again;
 * - "unavailable": no endpoint may take a batch now (not ready, or ejected by a breaker).
 */
export type PickResult =
  | { readonly kind: "pick"; readonly endpoint: BackendEndpoint }
  | { readonly kind: "busy" }
  | { readonly kind: "unavailable"; readonly cause: UnavailableCause };

const BUSY: PickResult = { kind: "busy" };
const USABLE = { kind: "usable" } as const;

/**
 * Picks the endpoint of a backend for each batch: the least-loaded usable
 * endpoint with a free slot, ties broken round-robin. It counts the batches
 * in flight per endpoint (`acquire` when one is sent, `release` when it
 * completes); the rotation moves on with every batch sent, not with every
 * look, so an idle backend's batches still spread over its endpoints.
 */
export class Balancer {
  readonly #endpoints: () => readonly BackendEndpoint[];
  readonly #inFlight = new Map<string, number>();
  #total = 0;
  #rotation = 0;

  /** `endpoints` is read at every pick: discovery and readiness change it. */
  constructor(endpoints: () => readonly BackendEndpoint[]) {
    this.#endpoints = endpoints;
  }

  /** The endpoint for the next batch, with at most `maxConcurrent` batches in flight on each; never `exclude`. */
  pick(maxConcurrent: number, exclude?: string): PickResult {
    const eps = this.#endpoints();
    const count = eps.length;
    let best: BackendEndpoint | undefined;
    let bestLoad = maxConcurrent;
    let usable = false;
    for (let k = 0; k < count; k++) {
      const ep = eps[(this.#rotation + k) % count]!;
      if (!isUsable(ep.state) || ep.id === exclude) continue;
      usable = true;
      const load = this.#inFlight.get(ep.id) ?? 0;
      if (load < bestLoad) {
        best = ep;
        bestLoad = load;
      }
    }
    if (best) return { kind: "pick", endpoint: best };
    return usable ? BUSY : { kind: "unavailable", cause: this.unavailableCause() };
  }

  /** A batch was sent to `id`. */
  acquire(id: string): void {
    this.#inFlight.set(id, (this.#inFlight.get(id) ?? 0) + 1);
    this.#total++;
    this.#rotation++;
  }

  /** A batch sent to `id` completed. */
  release(id: string): void {
    this.#inFlight.set(id, (this.#inFlight.get(id) ?? 1) - 1);
    this.#total--;
  }

  /** Batches in flight on `id`. */
  inFlight(id: string): number {
    return this.#inFlight.get(id) ?? 0;
  }

  /** Batches in flight on every endpoint. */
  get totalInFlight(): number {
    return this.#total;
  }

  /** Endpoints that may take a batch (whatever their load). */
  usableCount(): number {
    let usable = 0;
    for (const e of this.#endpoints()) if (isUsable(e.state)) usable++;
    return usable;
  }

  /**
   * Some endpoint's half-open breaker is trying one of this balancer's own
   * batches: its outcome is certain to come back here within one call (a
   * trial of another balancer's would not).
   */
  awaitingOwnTrial(): boolean {
    return this.#endpoints().some((e) => e.onTrial === true && this.inFlight(e.id) > 0);
  }

  /**
   * Whether a new request may wait for an endpoint: some endpoint is usable,
   * or a half-open breaker is trying one of this balancer's own batches; if
   * not, why, with the endpoints described for the message.
   */
  availability():
    | { readonly kind: "usable" }
    | { readonly kind: "unavailable"; readonly cause: UnavailableCause; readonly description: string } {
    if (this.usableCount() > 0 || this.awaitingOwnTrial()) return USABLE;
    return { kind: "unavailable", cause: this.unavailableCause(), description: this.describe() };
  }

  /** Why nothing is usable: a breaker (or outlier detection) has ejected some endpoint, or none is ready. */
  unavailableCause(): UnavailableCause {
    return this.#endpoints().some((e) => e.state === "ejected") ? "circuit_open" : "no_ready_endpoint";
  }

  /** The endpoints and their states, for error messages. */
  describe(): string {
    const eps = this.#endpoints();
    return eps.length === 0
      ? "no endpoints: none configured, or DNS names resolved to no address"
      : eps.map((e) => `${e.id} ${e.state}`).join(", ");
  }
}
