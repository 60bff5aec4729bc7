import type { Logger } from "../observability/logger.js";
import type { Clock, TimerHandle } from "../util/clock.js";
import type { BackendClient, BackendEndpoint } from "./backend-client.js";
import { createEndpointSet, type DiscoveredEndpoint, type EndpointSetOptions } from "./discovery.js";

/** An endpoint that checks its own readiness. */
export interface ProbedEndpoint extends BackendEndpoint, DiscoveredEndpoint {
  probe(): Promise<void>;
}

export interface ProbedBackendOptions<E extends ProbedEndpoint> {
  readonly name: string;
  readonly kind: BackendClient["kind"];
  /** How the configured targets become endpoints (static or DNS-discovered). */
  readonly endpoints: Omit<EndpointSetOptions<E>, "onChange" | "clock" | "logger">;
  /** Period between readiness rounds, counted from the end of the previous round. */
  readonly probeIntervalMs: number;
  readonly clock: Clock;
  readonly logger: Logger;
}

/**
 * The lifecycle both backend kinds share: a discovered endpoint set, a
 * readiness round over every endpoint at start and every `probeIntervalMs`
 * (endpoints that join are probed at once), and a dispose that stops probing
 * and lets endpoints drain.
 */
export function createProbedBackend<E extends ProbedEndpoint>(opts: ProbedBackendOptions<E>): BackendClient {
  const { clock, logger } = opts;
  let firstRound: Promise<void> | undefined;
  let timer: TimerHandle | undefined;
  let probing = false;
  let disposed = false;

  const endpoints = createEndpointSet<E>({
    ...opts.endpoints,
    clock,
    logger,
    onChange({ joined }) {
      // Before the first round, that round probes them.
      if (probing && !disposed) for (const e of joined) void e.probe();
    },
  });

  const round = async (): Promise<void> => {
    await Promise.all(endpoints.list().map((e) => e.probe()));
  };
  const scheduleNext = (): void => {
    if (disposed) return;
    timer = clock.setTimeout(() => {
      timer = undefined;
      if (disposed) return;
      void round().then(scheduleNext);
    }, opts.probeIntervalMs);
  };

  return {
    name: opts.name,
    kind: opts.kind,
    endpoints: () => endpoints.list(),
    start() {
      if (disposed) return Promise.resolve();
      firstRound ??= endpoints.start().then(() => {
        if (disposed) return;
        probing = true;
        return round().then(scheduleNext);
      });
      return firstRound;
    },
    isReady: () => endpoints.list().some((e) => e.state === "ready"),
    async [Symbol.asyncDispose]() {
      if (disposed) return;
      disposed = true;
      timer?.cancel();
      timer = undefined;
      await endpoints.close();
      logger.debug(`${opts.kind} backend closed`);
    },
  };
}
