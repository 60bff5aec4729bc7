/**
 * Endpoint discovery: turns a backend's configured targets into the live list
 * of endpoint objects the batcher reads at every dispatch. A static target is
 * one endpoint for the life of the process; a DNS target (a Kubernetes
 * headless Service: one A record per ready pod) is re-resolved every interval
 * and becomes one endpoint per address, so pods join and leave as the
 * Deployment scales or rolls.
 *
 * A leaving endpoint drops out of `list()` at once, so it gets no new batches,
 * and is then closed. Closing an endpoint lets the calls it already carries
 * finish (grpc-js `client.close()` shuts the HTTP/2 session down gracefully;
 * undici `pool.close()` waits for in-flight requests), each bounded by its own
 * deadline, so scaling down never fails work in flight.
 *
 * Resolution answers are treated in three ways:
 * - addresses: endpoints follow them;
 * - "no such name" or "no addresses" (ENOTFOUND, ENODATA, an empty answer):
 *   authoritative, the target has no endpoints (a headless Service with no
 *   ready pod answers NXDOMAIN, and its former addresses may be reused);
 * - anything else (EAI_AGAIN, SERVFAIL, no answer in time): a DNS hiccup says
 *   nothing about the pods, so the target keeps its previous endpoints.
 */
import { promises as dns } from "node:dns";
import { type Logger, pino } from "pino";
import { type Clock, systemClock, type TimerHandle } from "../util/clock.js";

/** Resolves a host name to its addresses (IPv6 without brackets). */
export type Resolver = (host: string) => Promise<readonly string[]>;

export type TargetSpec =
  | { readonly kind: "static"; readonly id: string }
  | {
      readonly kind: "dns";
      readonly host: string;
      readonly port: number;
      /** The endpoint id for one resolved address of this target. */
      readonly makeId: (address: string) => string;
    };

/** A configured target read: what to dial, or what is wrong with it (for the operator). */
export type TargetReading =
  | { readonly spec: TargetSpec; readonly problem?: undefined }
  | { readonly spec?: undefined; readonly problem: string };

export interface DiscoveredEndpoint {
  readonly id: string;
  /** Stops new work at once; resolves once the work in flight has finished. */
  close(): void | Promise<void>;
}

export interface EndpointSetChange<E> {
  readonly endpoints: readonly E[];
  readonly joined: readonly E[];
  readonly left: readonly E[];
}

export interface EndpointSetOptions<E extends DiscoveredEndpoint> {
  readonly targets: readonly string[];
  /** Throws (a RangeError naming the target) when a target cannot be used. */
  readonly parse: (target: string) => TargetSpec;
  /** `address` is the resolved address of a DNS target, undefined for a static one. */
  readonly create: (id: string, address: string | undefined, target: string) => E;
  /** Default: the system resolver (`dns.lookup`, all addresses), as the rest of the process resolves names. */
  readonly resolve?: Resolver | undefined;
  /** Re-resolution period, counted from the end of the previous round; default 30000. */
  readonly intervalMs?: number | undefined;
  /** A lookup not answered within this counts as a transient failure; default 5000. */
  readonly resolveTimeoutMs?: number | undefined;
  readonly clock?: Clock;
  readonly logger?: Logger;
  /** Called after `list()` changed. */
  readonly onChange?: ((change: EndpointSetChange<E>) => void) | undefined;
}

export interface EndpointSet<E> {
  /** The current endpoints. The array is replaced, never mutated, when the set changes. */
  list(): readonly E[];
  /** Resolves every DNS target once, then keeps re-resolving; idempotent. */
  start(): Promise<void>;
  /** Stops resolving and closes every endpoint; resolves once all have drained. */
  close(): Promise<void>;
}

export const DISCOVERY_DEFAULTS = { intervalMs: 30_000, resolveTimeoutMs: 5_000 } as const;

export const systemResolver: Resolver = async (host) => {
  const answers = await dns.lookup(host, { all: true });
  return answers.map((a) => a.address);
};

/** Error codes meaning the name has no addresses (as opposed to: the lookup failed). */
const NO_ADDRESSES = new Set(["ENOTFOUND", "ENODATA"]);

type Answer =
  | { readonly ok: true; readonly addresses: readonly string[] }
  | { readonly ok: false; readonly reason: string };

type DnsSpec = Extract<TargetSpec, { kind: "dns" }>;

interface Target<E, S extends TargetSpec = TargetSpec> {
  readonly target: string;
  readonly spec: S;
  /** Address (the id, for a static target) → endpoint, in join order. */
  readonly members: Map<string, E>;
  /** The resolution problem last logged, so that a lasting one is logged once. */
  problem: string | undefined;
}

export function createEndpointSet<E extends DiscoveredEndpoint>(opts: EndpointSetOptions<E>): EndpointSet<E> {
  const clock = opts.clock ?? systemClock;
  const logger = opts.logger ?? pino({ level: "silent" });
  const resolve = opts.resolve ?? systemResolver;
  const intervalMs = opts.intervalMs ?? DISCOVERY_DEFAULTS.intervalMs;
  const resolveTimeoutMs = opts.resolveTimeoutMs ?? DISCOVERY_DEFAULTS.resolveTimeoutMs;

  const targets: Target<E>[] = opts.targets.map((target) => ({
    target,
    spec: opts.parse(target),
    members: new Map<string, E>(),
    problem: undefined,
  }));
  const dnsTargets = targets.filter((t): t is Target<E, DnsSpec> => t.spec.kind === "dns");
  const draining = new Set<Promise<void>>();
  let current: readonly E[] = [];
  let started: Promise<void> | undefined;
  let timer: TimerHandle | undefined;
  let closed = false;

  const rebuild = (): void => {
    current = targets.flatMap((t) => [...t.members.values()]);
  };

  // Static endpoints exist from the start, as they did before discovery.
  for (const t of targets) {
    if (t.spec.kind !== "static") continue;
    const { id } = t.spec;
    if (targets.some((other) => other.members.has(id))) continue;
    t.members.set(id, opts.create(id, undefined, t.target));
  }
  rebuild();

  const drain = (endpoint: E, fields: Record<string, unknown>): void => {
    logger.debug(fields, "endpoint draining: calls in flight finish before it closes");
    const done: Promise<void> = Promise.resolve()
      .then(() => endpoint.close())
      .then(
        () => logger.debug(fields, "endpoint closed"),
        (err: unknown) => logger.warn({ ...fields, err }, "endpoint close failed"),
      )
      .finally(() => draining.delete(done));
    draining.add(done);
  };

  // One lookup per name at a time: a lookup that timed out keeps running (a
  // getaddrinfo call cannot be cancelled and holds one of libuv's few pool
  // threads), so later rounds wait on it again instead of starting another.
  const lookups = new Map<string, Promise<readonly string[]>>();
  const pendingLookup = (host: string): Promise<readonly string[]> => {
    let pending = lookups.get(host);
    if (!pending) {
      pending = Promise.resolve().then(() => resolve(host));
      lookups.set(host, pending);
      const forget = (): void => {
        lookups.delete(host);
      };
      void pending.then(forget, forget);
    }
    return pending;
  };

  const lookup = async (host: string): Promise<Answer> => {
    let timeout: TimerHandle | undefined;
    const pending = pendingLookup(host);
    try {
      const late = new Promise<never>((_, reject) => {
        timeout = clock.setTimeout(
          () => reject(new Error(`no answer within ${resolveTimeoutMs} ms`)),
          resolveTimeoutMs,
        );
      });
      const addresses = await Promise.race([pending, late]);
      return { ok: true, addresses: [...new Set(addresses)] };
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== undefined && NO_ADDRESSES.has(code)) return { ok: true, addresses: [] };
      return { ok: false, reason: err instanceof Error ? err.message : String(err) };
    } finally {
      timeout?.cancel();
    }
  };

  const report = (t: Target<E>, answer: Answer): void => {
    const problem = answer.ok ? (answer.addresses.length === 0 ? "no addresses" : undefined) : answer.reason;
    if (problem === t.problem) return;
    const previous = t.problem;
    t.problem = problem;
    if (!answer.ok) {
      logger.warn(
        { target: t.target, reason: answer.reason, kept: t.members.size },
        "endpoint discovery: lookup failed; keeping the previous endpoints",
      );
    } else if (problem !== undefined) {
      logger.warn({ target: t.target }, "endpoint discovery: the name has no addresses");
    } else if (previous !== undefined) {
      logger.info({ target: t.target, addresses: answer.addresses.length }, "endpoint discovery: resolved");
    }
  };

  const apply = (answers: readonly Answer[]): void => {
    const joined: E[] = [];
    const left: E[] = [];
    const taken = new Set(current.map((e) => e.id));
    // Leaves first, so that an id moving from one target to another is free to join.
    dnsTargets.forEach((t, i) => {
      const answer = answers[i]!;
      if (!answer.ok) return;
      for (const [address, endpoint] of t.members) {
        if (answer.addresses.includes(address)) continue;
        t.members.delete(address);
        taken.delete(endpoint.id);
        left.push(endpoint);
        const fields = { target: t.target, address, endpoint: endpoint.id };
        logger.info(fields, "endpoint left");
        drain(endpoint, fields);
      }
    });
    dnsTargets.forEach((t, i) => {
      const answer = answers[i]!;
      if (!answer.ok) return;
      for (const address of answer.addresses) {
        if (t.members.has(address)) continue;
        const id = t.spec.makeId(address);
        const fields = { target: t.target, address, endpoint: id };
        // Two names (or a name and a static target) reaching one server share its endpoint.
        if (taken.has(id)) {
          logger.debug(fields, "endpoint already listed under another target");
          continue;
        }
        let endpoint: E;
        try {
          endpoint = opts.create(id, address, t.target);
        } catch (err) {
          logger.error({ ...fields, err }, "endpoint could not be created");
          continue;
        }
        t.members.set(address, endpoint);
        taken.add(id);
        joined.push(endpoint);
        logger.info(fields, "endpoint joined");
      }
    });
    if (joined.length === 0 && left.length === 0) return;
    rebuild();
    try {
      opts.onChange?.({ endpoints: current, joined, left });
    } catch (err) {
      logger.error({ err }, "endpoint discovery: change listener failed");
    }
  };

  const refresh = async (): Promise<void> => {
    const answers = await Promise.all(dnsTargets.map((t) => lookup(t.spec.host)));
    if (closed) return;
    dnsTargets.forEach((t, i) => {
      report(t, answers[i]!);
    });
    apply(answers);
  };

  const scheduleNext = (): void => {
    if (closed || dnsTargets.length === 0) return;
    timer = clock.setTimeout(() => {
      timer = undefined;
      if (closed) return;
      void refresh()
        .catch((err: unknown) => logger.error({ err }, "endpoint discovery round failed"))
        .then(scheduleNext);
    }, intervalMs);
  };

  return {
    list: () => current,
    start() {
      if (closed) return Promise.resolve();
      started ??= refresh().then(scheduleNext);
      return started;
    },
    async close() {
      if (!closed) {
        closed = true;
        timer?.cancel();
        timer = undefined;
        // list() keeps the closed endpoints: a late caller gets their "closed" error, not "none configured".
        for (const t of targets) {
          for (const [key, endpoint] of t.members) {
            const address = t.spec.kind === "dns" ? key : undefined;
            drain(endpoint, { target: t.target, address, endpoint: endpoint.id });
          }
        }
      }
      await Promise.all(draining);
    },
  };
}
