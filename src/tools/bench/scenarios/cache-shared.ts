/**
 * The score cache's shared tier under a fault: a gateway whose in-process
 * tier is small (so most lookups reach the shared tier) replays the cache
 * scenario's Zipf workload against a redis-server it has already filled;
 * a third of the way through the window the server is killed (SIGKILL, as
 * in a crash), and two thirds through it is started again, empty. The same
 * workload through a gateway with the cache off is the reference: no client
 * may see an error, p99 stays within the shared tier's timeout plus the
 * reference's p99, and the hit ratio climbs again after the restart.
 */
import { METRIC_PREFIX } from "../../../observability/metrics.js";
import { type GatewaySpec, gatewayConfig } from "../configs.js";
import { type BenchContext, ServerStack } from "../context.js";
import { measureRound } from "../measure.js";
import type { LoadPhase } from "../open-loop.js";
import { type GatewayProcess, metricSum, scrape, startGateway, startTritonSim } from "../processes.js";
import { type RedisProcess, startRedisServer } from "../redis-process.js";
import {
  goal,
  type Measurement,
  measurement,
  pairedMedian,
  type RoundFigures,
  type ScenarioResult,
} from "../results.js";
import { BATCHING_SIM } from "./batching.js";
import { BATCHING, DOCS, planCacheRun, REPLAY_RATE_PER_S, REPLAY_WINDOWS, TTL_MS } from "./cache-plan.js";

/** The in-process tier's smallest size (about 240 pairs): nearly every repeat is the shared tier's. */
const SMALL_MEMORY_BYTES = 65_536;
/** The shared tier's default call timeout (`cache.shared.timeoutMs`). */
const SHARED_TIMEOUT_MS = 20;
/**
 * The recovery goal: from the restart to the shared tier's first hit, at most the client's
 * reconnect backoff (1 s at most) and a second for the restarted server to be filled and read.
 */
const RECOVERY_TARGET_S = 2;

/** Hits (both tiers, and the shared tier's) and lookups of a gateway, from its /metrics. */
interface Lookups {
  readonly hits: number;
  readonly sharedHits: number;
  readonly lookups: number;
}

async function lookups(adminUrl: string): Promise<Lookups> {
  const text = await scrape(`${adminUrl}/metrics`);
  const sum = (name: string, tier: string) => metricSum(text, `${METRIC_PREFIX}${name}`, `tier="${tier}"`);
  const memoryHits = sum("cache_hits_total", "memory");
  const sharedHits = sum("cache_hits_total", "shared");
  return {
    hits: memoryHits + sharedHits,
    sharedHits,
    lookups: memoryHits + sum("cache_misses_total", "memory"),
  };
}

/** Hits ÷ lookups between two scrapes, at most 1 (a shared hit can be counted just after its lookup's window). */
const ratio = (a: Lookups, b: Lookups) =>
  b.lookups > a.lookups ? Math.min(1, (b.hits - a.hits) / (b.lookups - a.lookups)) : 0;

interface FaultRound {
  readonly off: RoundFigures;
  /** The same replay again, the server up throughout: what the shared tier costs or saves when healthy. */
  readonly healthy: RoundFigures;
  readonly fault: RoundFigures;
  /** Hit ratio (both tiers) before the kill, while down, after the restart. */
  readonly thirds: readonly [number, number, number];
  /** Seconds from the restart to the shared tier's first hit; undefined: none before the window ended. */
  readonly recoveryS: number | undefined;
}

export async function cacheSharedScenario(ctx: BenchContext): Promise<ScenarioResult> {
  const windowS = REPLAY_WINDOWS * ctx.durations.measureS;
  const plan = planCacheRun(windowS, ctx.seed);
  const workload = {
    kind: "score" as const,
    docsPerRequest: DOCS,
    seed: ctx.seed,
    zipf: { ...plan.spec, requests: plan.payloadRequests },
  };
  const stack = new ServerStack();
  let redis: RedisProcess | undefined;
  try {
    const sim = await stack.add(startTritonSim("triton-sim", BATCHING_SIM));
    redis = await startRedisServer();
    const rounds: FaultRound[] = [];
    const n = ctx.durations.rounds;
    for (let round = 1; round <= n; round++) {
      const label = `round ${round}/${n}`;
      const start = (name: string, cache: GatewaySpec["cache"]) =>
        stack.add(
          startGateway(
            `gateway (${name})`,
            gatewayConfig({ student: sim.address, batching: BATCHING, cache }),
            ctx.scratch,
            ctx.gatewayNodeFlags(`cache-shared-${name.replace(/\W+/g, "-")}`),
          ),
        );
      const replay = (gateway: GatewayProcess, what: string, during?: (elapsedMs: number) => void) =>
        measureRound(ctx, {
          label: `cache-shared · ${what} · ${label}`,
          job: {
            kind: "open",
            target: gateway.target,
            workload,
            phases: replayPhases(ctx.durations.warmupS, windowS),
            seed: ctx.seed,
            deadlineMs: 10_000,
          },
          watch: [
            { name: "gateway", pid: gateway.pid },
            { name: "triton-sim", pid: sim.pid },
          ],
          gateway,
          ...(during ? { during: { everyMs: 100, fn: during } } : {}),
        });

      const offGateway = await start("cache off", { maxBytes: 0, ttlMs: TTL_MS });
      const off = await replay(offGateway, "reference, cache off");
      await offGateway.stop();

      const gateway = await start("shared tier", {
        maxBytes: SMALL_MEMORY_BYTES,
        ttlMs: TTL_MS,
        shared: { url: redis.url, timeoutMs: SHARED_TIMEOUT_MS },
      });
      // Fill the shared tier: the same replay once, unmeasured.
      await replay(gateway, "filling the shared tier");
      const healthy = await replay(gateway, "server up");
      const marks: Promise<Lookups>[] = [];
      const faults: Promise<void>[] = [];
      let restartedAt: number | undefined;
      let recoveryS: number | undefined;
      let polling = false;
      const fault = await replay(gateway, "server killed, then restarted", (elapsedMs) => {
        const third = Math.floor((3 * elapsedMs) / (windowS * 1000));
        if (marks.length === 0) marks.push(lookups(gateway.adminUrl));
        if (third >= 1 && marks.length === 1) {
          marks.push(lookups(gateway.adminUrl));
          ctx.log(`cache-shared · killing redis-server · ${label}`);
          faults.push(redis!.kill());
        }
        if (third >= 2 && marks.length === 2) {
          marks.push(lookups(gateway.adminUrl));
          ctx.log(`cache-shared · restarting redis-server (empty) · ${label}`);
          faults.push(
            redis!.restart().then(() => {
              restartedAt = performance.now();
            }),
          );
        }
        // After the restart: the first scrape that shows a new shared hit ends the recovery.
        const atRestart = marks[2];
        if (restartedAt !== undefined && recoveryS === undefined && !polling && atRestart) {
          polling = true;
          const from = restartedAt;
          void Promise.all([atRestart, lookups(gateway.adminUrl)])
            .then(([before, now]) => {
              if (now.sharedHits > before.sharedHits) recoveryS = (performance.now() - from) / 1000;
            })
            .catch(() => {})
            .finally(() => {
              polling = false;
            });
        }
      });
      await Promise.all(faults);
      const [a, b, c] = await Promise.all(marks);
      const end = await lookups(gateway.adminUrl);
      await gateway.stop();
      if (!a || !b || !c) throw new Error("cache-shared: the window ended before the fault was made");
      rounds.push({ off, healthy, fault, thirds: [ratio(a, b), ratio(b, c), ratio(c, end)], recoveryS });
    }
    return report(rounds);
  } finally {
    await redis?.stop();
    await stack.stopAll();
  }
}

function replayPhases(warmupS: number, windowS: number): LoadPhase[] {
  return [
    { name: "warm-up", durationMs: warmupS * 1000, ratePerS: REPLAY_RATE_PER_S, measured: false },
    { name: "measured", durationMs: windowS * 1000, ratePerS: REPLAY_RATE_PER_S, measured: true },
    { name: "end", durationMs: 0, ratePerS: 0, measured: false },
  ];
}

const pct = (x: number) => `${(100 * x).toFixed(1)}%`;

function report(rounds: readonly FaultRound[]): ScenarioResult {
  const off: Measurement = measurement(
    "cache off (reference)",
    rounds.map((r) => r.off),
  );
  const median3 = (i: 0 | 1 | 2) => {
    const v = rounds.map((r) => r.thirds[i]).sort((x, y) => x - y);
    return v[v.length >> 1]!;
  };
  const thirds = [median3(0), median3(1), median3(2)] as const;
  const healthy: Measurement = measurement(
    "shared tier, server up",
    rounds.map((r) => r.healthy),
  );
  const fault: Measurement = measurement(
    "shared tier: killed at 1/3, restarted empty at 2/3",
    rounds.map((r) => r.fault),
    {
      extra: {
        "hit ratio before %": 100 * thirds[0],
        "while down %": 100 * thirds[1],
        "after restart %": 100 * thirds[2],
      },
    },
  );
  const errors = rounds.reduce((s, r) => s + r.fault.errors, 0);
  // A round without a shared hit after the restart counts as never recovered.
  const recoveryS = Math.max(...rounds.map((r) => r.recoveryS ?? Number.POSITIVE_INFINITY));
  const p99Excess = pairedMedian(fault, off, (f, o) => f.p99Ms - o.p99Ms);
  return {
    id: "cache-shared",
    title: "Score cache: the shared tier killed and restarted under load",
    setup:
      `The cache scenario's Zipf workload, open loop at ${REPLAY_RATE_PER_S} req/s of ${DOCS} documents, through a gateway ` +
      `whose in-process tier is ${SMALL_MEMORY_BYTES / 1024} KiB (about 240 pairs) and whose shared tier is a redis-server ` +
      `it has filled with one replay; shared timeoutMs ${SHARED_TIMEOUT_MS} (the default). In the measured window the ` +
      `server is killed (SIGKILL) at one third and started again, empty, at two thirds. Reference: the same ` +
      `replay through a gateway with the cache off. Between filling and the fault, the same replay with the server up. Triton simulator as in the batching scenario.`,
    measurements: [off, healthy, fault],
    goals: [
      goal({
        id: "cache-shared-errors",
        scenario: "cache-shared",
        what: "client errors while the shared tier is killed and restarted",
        measured: errors,
        comparator: "<=",
        target: 0,
        unit: "",
        detail: `${errors} errors in ${rounds.reduce((s, r) => s + r.fault.requests + r.fault.errors, 0)} requests`,
      }),
      goal({
        id: "cache-shared-p99",
        scenario: "cache-shared",
        what: "p99 with the fault − p99 with the cache off",
        measured: p99Excess,
        comparator: "<=",
        target: SHARED_TIMEOUT_MS,
        unit: "ms",
        detail: `p99 ${fault.median.p99Ms.toFixed(1)} vs ${off.median.p99Ms.toFixed(1)} ms; the shared timeout is ${SHARED_TIMEOUT_MS} ms`,
      }),
      goal({
        id: "cache-shared-recovery",
        scenario: "cache-shared",
        what: "from the restart to the shared tier's first hit (slowest round)",
        measured: recoveryS,
        comparator: "<=",
        target: RECOVERY_TARGET_S,
        unit: "s",
        detail:
          `hit ratio (both tiers) ${pct(thirds[0])} before the kill, ${pct(thirds[1])} while down, ` +
          `${pct(thirds[2])} after the restart (the server empty, filling again)`,
      }),
    ],
    notes: [
      "After the restart the server is empty: pairs come back into it as they are scored again, so the hit ratio of " +
        "the last third is that of a cache filling from empty over a third of the window, not of a warm one.",
      "Both gateways warm up on the workload's first requests, which the window then continues; the filling replay " +
        "sent the same requests, so before the kill every repeat of the in-process tier's misses is in the shared tier.",
    ],
  };
}
