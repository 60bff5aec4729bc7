import type { BenchContext } from "../context.js";
import { measureRound, type RoundSpec } from "../measure.js";
import type { RoundFigures } from "../results.js";

/** One configuration of a scenario: how to measure it once. */
export interface RoundConfig {
  readonly name: string;
  readonly spec: Omit<RoundSpec, "label">;
}

/**
 * Measures every configuration once per round, in turn (the order rotating
 * from round to round), for `ctx.durations.rounds` rounds: interleaving
 * spreads the machine's noise (other work on a shared host) over all
 * configurations alike, and the per-round figures pair up for ratios.
 */
export async function interleave(
  ctx: BenchContext,
  scenario: string,
  configs: readonly RoundConfig[],
): Promise<Map<string, RoundFigures[]>> {
  const results = new Map<string, RoundFigures[]>(configs.map((c) => [c.name, []]));
  const rounds = ctx.durations.rounds;
  for (let round = 1; round <= rounds; round++) {
    // The order rotates each round, so no configuration always runs first (or right after another).
    for (let k = 0; k < configs.length; k++) {
      const c = configs[(k + round - 1) % configs.length]!;
      const label = `${scenario} · ${c.name} · round ${round}/${rounds}`;
      const figures = await measureRound(ctx, { label, ...c.spec });
      ctx.log(`${label}: ${summary(figures)}`);
      results.get(c.name)!.push(figures);
    }
  }
  return results;
}

function summary(f: RoundFigures): string {
  const errors = f.errors > 0 ? `, ${f.errors} errors` : "";
  const batch = f.meanBatch === undefined ? "" : `, mean batch ${f.meanBatch.toFixed(1)}`;
  return (
    `${Math.round(f.reqPerS)} req/s, ${Math.round(f.itemsPerS)} items/s, ` +
    `p50 ${f.p50Ms.toFixed(2)} ms, p99 ${f.p99Ms.toFixed(2)} ms${batch}${errors}`
  );
}

/** A closed-loop job's timing from the context. */
export function closedTiming(ctx: BenchContext): { warmupMs: number; durationMs: number } {
  return { warmupMs: ctx.durations.warmupS * 1000, durationMs: ctx.durations.measureS * 1000 };
}
