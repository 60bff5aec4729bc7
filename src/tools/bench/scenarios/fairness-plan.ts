/**
 * What the flow control scenario offers: the simulator of known capacity,
 * the clients and, per configuration, each client's stream (size, band,
 * arrivals, deadline).
 */
import type { BenchClient } from "../configs.js";
import type { LoadStream, StreamArrivals } from "../load-streams.js";
import type { TritonSimSpec } from "../processes.js";
import { capacityItemsPerS, fullBatchMs } from "./fairness-figures.js";

/**
 * A slow student, so that the simulator, not the gateway's CPU, is what is
 * overloaded: 2 instances × 64 items per 36 ms, 3,556 items/s.
 */
export const FAIRNESS_SIM: TritonSimSpec = { baseMs: 20, perItemMs: 0.25, instances: 2, maxBatchSize: 64 };
export const CAPACITY = capacityItemsPerS(FAIRNESS_SIM);
export const BATCH_MS = fullBatchMs(FAIRNESS_SIM);
const PRIORITY = { interactive: 1, bulk: 2, background: 3 } as const;

const CLIENTS = [
  "light",
  "heavy",
  "interactive",
  "bulk",
  "background",
  "small",
  "big",
  "burst",
  "overload",
] as const;
export type Client = (typeof CLIENTS)[number];
const apiKey = (c: Client) => `bench-${c}-key-0123456789abcdef`;

/** Items per second of `docs`-document requests as requests per second. */
const perS = (itemsPerS: number, docs: number) => itemsPerS / docs;
const poisson = (ratePerS: number, warmupRatePerS = ratePerS): StreamArrivals => ({
  kind: "poisson",
  warmupRatePerS,
  ratePerS,
});

/** One client's requests in a configuration. */
export interface StreamPlan {
  readonly client: Client;
  readonly docs: number;
  readonly priority: 1 | 2 | 3;
  readonly arrivals: StreamArrivals;
  readonly deadlineMs: number;
}

/** What runs at once against one of the two gateways (equal weights, or the heavy client's 3). */
export interface Config {
  readonly name: string;
  readonly gateway: "equal" | "weighted";
  readonly streams: readonly StreamPlan[];
  /** Its measured window in `--seconds` (default 1). */
  readonly windows?: number;
}

/**
 * The configurations whose goal is a p99 of 50 req/s measure three windows:
 * a p99 of 500 answers swings by a third from round to round, of 1,500 less.
 */
export const LATENCY_WINDOWS = 3;

const stream = (
  client: Client,
  docs: number,
  arrivals: StreamArrivals,
  more: { priority?: 1 | 2 | 3; deadlineMs?: number } = {},
): StreamPlan => ({
  client,
  docs,
  arrivals,
  priority: more.priority ?? PRIORITY.interactive,
  deadlineMs: more.deadlineMs ?? 10_000,
});

// 1. Two clients, one offering ten times the other's load. The light one offers 60% of the
//    capacity, more than the share it is owed with either weighting (50%, 25%), so that the
//    shares measure the scheduler and not the light client's appetite.
export const SHARE_DOCS = 64;
const LIGHT_ITEMS_PER_S = 0.6 * CAPACITY;
const sharing = (name: string, gateway: Config["gateway"]): Config => ({
  name,
  gateway,
  streams: [
    stream("light", SHARE_DOCS, poisson(perS(LIGHT_ITEMS_PER_S, SHARE_DOCS))),
    stream("heavy", SHARE_DOCS, poisson(perS(10 * LIGHT_ITEMS_PER_S, SHARE_DOCS))),
  ],
});
// 2. Interactive requests alone, then beside bulk and background work that offers 2× the capacity.
const INTERACTIVE = stream("interactive", 8, poisson(50));
export const BAND_DOCS = 32;
// 3. 8-document requests alone, then beside a client sending 1,000 documents every 10 ms (on average).
const SMALL = stream("small", 8, poisson(50));
// 4. The default config: a burst, and a sustained 3× overload with deadlines shorter than the default queue's wait.
export const BURST = { count: 32, docs: 300, deadlineMs: 20_000 };
export const OVERLOAD = { factor: 3, docs: 64, deadlineMs: 1_000 };

export const CONFIGS: readonly Config[] = [
  sharing("10:1 load, equal weights", "equal"),
  sharing("10:1 load, weights 3:1 (heavy 3)", "weighted"),
  { name: "interactive alone", gateway: "equal", streams: [INTERACTIVE], windows: LATENCY_WINDOWS },
  {
    name: "interactive + 2× bulk and background",
    gateway: "equal",
    windows: LATENCY_WINDOWS,
    streams: [
      INTERACTIVE,
      stream("bulk", BAND_DOCS, poisson(perS(0.8 * CAPACITY, BAND_DOCS)), { priority: PRIORITY.bulk }),
      stream("background", BAND_DOCS, poisson(perS(1.2 * CAPACITY, BAND_DOCS)), {
        priority: PRIORITY.background,
      }),
    ],
  },
  { name: "8-document client alone", gateway: "equal", streams: [SMALL], windows: LATENCY_WINDOWS },
  {
    name: "8-document client + 1,000 documents per 10 ms",
    gateway: "equal",
    windows: LATENCY_WINDOWS,
    streams: [SMALL, stream("big", 1000, poisson(100))],
  },
  {
    name: `burst of ${BURST.count} × ${BURST.docs} documents`,
    gateway: "equal",
    // The warm-up's load comes from another client, which sends nothing in the window.
    streams: [
      stream("small", 8, poisson(0, 50)),
      stream("burst", BURST.docs, { kind: "burst", count: BURST.count }, { deadlineMs: BURST.deadlineMs }),
    ],
  },
  {
    name: `${OVERLOAD.factor}× overload`,
    gateway: "equal",
    streams: [
      stream("overload", OVERLOAD.docs, poisson(perS(OVERLOAD.factor * CAPACITY, OVERLOAD.docs)), {
        deadlineMs: OVERLOAD.deadlineMs,
      }),
    ],
  },
];

export const clientsWith = (weights: Partial<Record<Client, number>>): BenchClient[] =>
  CLIENTS.map((name) => ({ name, apiKey: apiKey(name), weight: weights[name] ?? 1 }));

export function loadStream(s: StreamPlan, seed: number): LoadStream {
  return {
    client: s.client,
    apiKey: apiKey(s.client),
    workload: { kind: "score", docsPerRequest: s.docs, seed, priority: s.priority },
    arrivals: s.arrivals,
    deadlineMs: s.deadlineMs,
  };
}
