import t from "tap";
import type { CallContext, InferBatch, InferResult } from "../../src/backends/backend-client.js";
import { AdaptiveController } from "../../src/batching/adaptive.js";
import type { BatchLimits } from "../../src/batching/batcher.js";
import { opts, setup, track } from "../helpers/batcher-harness.js";
import type { FakeClock } from "../helpers/fake-clock.js";
import { docs, ManualEndpoint } from "../helpers/manual-endpoint.js";

/** A manual endpoint that answers every batch itself, `costMs(n)` after it arrives, on the fake clock. */
class TimedEndpoint extends ManualEndpoint {
  clock: FakeClock | undefined;
  readonly #costMs: (n: number) => number;

  constructor(costMs: (n: number) => number) {
    super("ep-timed", 64);
    this.#costMs = costMs;
  }

  override infer(batch: InferBatch, ctx: CallContext): Promise<InferResult> {
    const answer = super.infer(batch, ctx);
    const call = this.calls.at(-1)!;
    this.clock!.setTimeout(() => call.answer(), this.#costMs(batch.documents.length));
    return answer;
  }
}

/** Batch time 10 + 1·n ms. */
const cost = (n: number) => 10 + n;

const limits: BatchLimits = {
  maxBatchSize: 64,
  maxQueueDelayMs: 5,
  preferredBatchSizes: [],
  maxQueueItems: 100_000,
  maxConcurrentBatches: 1,
};

function stack(controller: AdaptiveController | undefined, maxBatchSize = 64) {
  const ep = new TimedEndpoint(cost);
  const s = setup({ ...limits, maxBatchSize, controller }, [ep]);
  ep.clock = s.clock;
  return { ...s, ep };
}

/** One request of `sizes[i % sizes.length]` documents every `everyMs`, for `forMs`, then lets answers in. */
async function load(s: ReturnType<typeof stack>, forMs: number, everyMs: number, sizes: readonly number[]) {
  const latencies: number[] = [];
  let i = 0;
  const end = s.clock.now() + forMs;
  const next = () => {
    const started = s.clock.now();
    if (started >= end) return;
    const n = sizes[i++ % sizes.length]!;
    s.batcher.submit("q", docs("d", i * 100, n), opts).then(
      () => latencies.push(s.clock.now() - started),
      () => latencies.push(Number.POSITIVE_INFINITY),
    );
    s.clock.setTimeout(next, everyMs);
  };
  next();
  await s.clock.advance(forMs);
  return latencies;
}

const p99 = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(0.99 * (xs.length - 1))]!;

t.test(
  "in the loop, the controller learns the backend, bounds batches by the target and grows them with the load",
  async (t) => {
    const controller = new AdaptiveController({ targetLatencyMs: 40 });
    const s = stack(controller);

    // Low load: lone requests of 1–8 documents every 25 ms; the backend (10 + n ms) is mostly idle.
    await load(s, 1000, 25, [1, 3, 5, 8, 2, 6]);
    const learned = controller.snapshot();
    t.ok(
      Math.abs(learned.fixedMs - 10) < 1e-6 && Math.abs(learned.perItemMs - 1) < 1e-6,
      "learned 10 + 1·n ms",
    );
    t.equal(s.batcher.limits.controller, controller);

    // Target 40 ms: a batch may take 20 ms, i.e. 10 items. A 30-document request goes in three.
    const before = s.ep.sizes.length;
    const burst = track(s.batcher.submit("q", docs("burst", 0, 30), opts));
    await s.clock.advance(200);
    t.same(s.ep.sizes.slice(before), [10, 10, 10], "three batches of 10, not one of 30");
    t.equal(burst.settled, 1);
    t.same(s.rec.targets.at(-1)?.[0], 10, "the observer was told the target");

    // High load: 0.67 items/ms. Batches of 10 serve at most 0.5 items/ms; the floor lifts the size.
    const mark = s.ep.sizes.length;
    await load(s, 3000, 6, [4]);
    const high = s.ep.sizes.slice(mark);
    const mean = high.reduce((a, b) => a + b, 0) / high.length;
    t.ok(mean > 15, `batches grew with the load: mean ${mean.toFixed(1)} items`);
    t.ok(Math.max(...high) <= 64, "never past the cap");
    t.ok(s.batcher.queuedItems < 64, `the backend kept up: ${s.batcher.queuedItems} items queued at the end`);
  },
);

t.test(
  "a load step: adaptive keeps p99 bounded where a static size tuned for the low load does not",
  async (t) => {
    const results: Record<string, { low: number; high: number; queued: number }> = {};
    for (const [name, controller, cap] of [
      ["static, cap 10", undefined, 10],
      ["adaptive, target 80 ms", new AdaptiveController({ targetLatencyMs: 80 }), 64],
    ] as const) {
      const s = stack(controller, cap);
      await load(s, 500, 16, [4]); // warm-up
      const low = await load(s, 3000, 16, [4]); // 0.25 items/ms: 30% of what batches of 64 serve (0.86)
      const high = await load(s, 3000, 6, [4]); // 0.67 items/ms: 78%
      const queued = s.batcher.queuedItems;
      await s.clock.advance(5000); // every request of the step answered, the slowest included
      t.equal(high.length, 500, `${name}: every request of the step answered`);
      results[name] = { low: p99(low), high: p99(high), queued };
    }
    const st = results["static, cap 10"]!;
    const ad = results["adaptive, target 80 ms"]!;
    t.ok(st.low < 80 && ad.low < 80, `low load: both under 80 ms (static ${st.low}, adaptive ${ad.low})`);
    t.ok(ad.high < 80, `high load: adaptive p99 ${ad.high} ms under target`);
    t.ok(st.high > 500, `high load: static p99 ${st.high} ms, its queue growing (${st.queued} items)`);
  },
);
