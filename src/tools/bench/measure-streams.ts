/**
 * Runs a multi-client job (load-streams.ts) in the load worker and measures
 * its window: every stream's figures from the worker, and the CPU each
 * watched process used while the window was open.
 */
import { decodeScoreResponse } from "../../codec/index.js";
import type { BenchContext } from "./context.js";
import { cacheWindow, type GatewayUnderTest } from "./gateway-cache.js";
import type { StreamResult, StreamsLoadJob } from "./load-streams.js";
import type { Watched } from "./measure.js";
import { coresUsed, type ProcessSample, sampleProcess } from "./proc-stats.js";
import type { CacheFigures } from "./results.js";

export interface StreamsRound {
  readonly streams: readonly StreamResult[];
  /** Cores used by each watched process during the window. */
  readonly cores: Readonly<Record<string, number>>;
  /** The gateway's score cache over the window (all clients together). */
  readonly cache?: CacheFigures | undefined;
}

interface Mark {
  readonly atMs: number;
  readonly samples: ReadonlyMap<string, ProcessSample | undefined>;
}

export async function measureStreams(
  ctx: BenchContext,
  label: string,
  job: StreamsLoadJob,
  watch: readonly Watched[],
  gateway?: GatewayUnderTest,
): Promise<StreamsRound> {
  const marks: Mark[] = [];
  const mark = (): Mark => ({
    atMs: performance.now(),
    samples: new Map(watch.map((w) => [w.name, sampleProcess(w.pid)])),
  });
  let problem: string | undefined;
  const cacheFigures = cacheWindow(gateway);
  const sizes = new Set(job.streams.map((s) => s.workload.docsPerRequest));
  const streams = await ctx.load.streams(job, {
    onPhase: (name, measured) => {
      if (measured) void cacheFigures.open();
      if (measured || (marks.length === 1 && name === "end")) marks.push(mark());
    },
    onTick: (t) =>
      ctx.log(
        `${label} · ${t.phase} ${Math.round(t.elapsedMs / 1000)} s: ${t.answered} answered, ` +
          `p99 ${t.p99Ms.toFixed(1)} ms${t.errors > 0 ? `, ${t.errors} errors` : ""}`,
      ),
    onSample: (body) => {
      try {
        const n = decodeScoreResponse(Buffer.from(body)).scores.length;
        if (!sizes.has(n)) problem = `${n} scores, for requests of ${[...sizes].join(" or ")} documents`;
      } catch (err) {
        problem = (err as Error).message;
      }
    },
  });
  if (problem) throw new Error(`${label}: unexpected answer: ${problem}`);
  const cache = await cacheFigures.close();
  const [from, to] = marks;
  const cores: Record<string, number> = {};
  if (from && to) {
    for (const w of watch) {
      const a = from.samples.get(w.name);
      const b = to.samples.get(w.name);
      if (a && b) cores[w.name] = coresUsed(a, b, to.atMs - from.atMs);
    }
  }
  return { streams, cores, cache };
}
