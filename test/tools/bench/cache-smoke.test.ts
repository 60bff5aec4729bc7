import t from "tap";
import type { Measurement } from "../../../src/tools/bench/results.js";
import {
  CANDIDATES,
  DOCS,
  planCacheRun,
  REPLAY_WINDOWS,
} from "../../../src/tools/bench/scenarios/cache-plan.js";
import { repeatShare, zipfRequests } from "../../../src/tools/bench/zipf-workload.js";
import { runBenchScenario } from "../../helpers/bench-cli.js";

const SECONDS = 0.5;
const SEED = 42;

/**
 * `relevance-gateway bench --quick --scenario cache` with tiny windows. The
 * timings of a shared test machine mean nothing; the counts do: without the
 * cache the simulator scores every pair offered, with it each distinct pair
 * once (the workload's own count), and the gateway's hits, misses and
 * coalesced pairs account for every pair offered.
 */
t.test(
  "bench --scenario cache: the simulator scores each distinct pair once with the cache, every pair without",
  async (t) => {
    const run = await runBenchScenario(t, "cache", [
      "--warmup",
      "0.3",
      "--seconds",
      String(SECONDS),
      "--seed",
      String(SEED),
    ]);
    t.equal(run.code, 0, run.stderr);
    const report = run.report();
    t.same(report.failures, []);
    const [cache] = report.scenarios;
    t.equal(cache?.id, "cache");
    t.same(
      cache!.goals.map((g) => g.id),
      ["cache-items", "cache-latency", "cache-rss"],
    );
    for (const g of cache!.goals) t.equal(typeof g.met, "boolean", `${g.id} is judged`);
    const [off, on, cached, direct] = cache!.measurements as [
      Measurement,
      Measurement,
      Measurement,
      Measurement,
    ];
    t.match(off.name, /cache off/);
    t.match(on.name, /cache on/);
    for (const m of [off, on, cached, direct]) {
      t.equal(m.median.errors, 0, `${m.name}: no errors`);
      t.ok(m.median.requests > 0, `${m.name}: answered requests`);
    }

    // The replays sent the same requests: the first `sent` of the seeded workload.
    const sent = on.rounds[0]!.requests;
    t.equal(off.rounds[0]!.requests, sent, "both replays sent the same requests");
    const plan = planCacheRun(REPLAY_WINDOWS * SECONDS, SEED);
    const offered = repeatShare(
      zipfRequests({ ...plan.spec, requests: plan.payloadRequests }),
      CANDIDATES,
      sent,
    );
    t.equal(off.extra?.["pairs offered"], sent * DOCS);
    t.equal(offered.pairs, sent * DOCS);
    t.equal(
      off.extra?.["backend items"],
      sent * DOCS,
      "without the cache: every pair offered reaches the simulator",
    );
    t.equal(on.extra?.["backend items"], offered.distinct, "with it: each distinct pair once");

    t.same(off.median.cache, { kind: "off" });
    const c = on.rounds[0]!.cache;
    if (c?.kind !== "on") throw new Error("the cache-on replay has no cache figures");
    t.equal(c.misses, offered.distinct, "the gateway's misses are the simulator's items");
    t.equal(
      c.hits + c.misses + c.coalesced,
      offered.pairs,
      "hits, misses and coalesced pairs add up to the pairs offered",
    );
    t.equal(c.hitRatio, c.hits / (c.hits + c.misses));
    t.match(
      cached.median.cache,
      { kind: "on", misses: 0, coalesced: 0, hitRatio: 1 },
      "wholly cached requests",
    );
    t.equal(direct.median.cache, undefined, "the direct calls have no gateway");
  },
);
