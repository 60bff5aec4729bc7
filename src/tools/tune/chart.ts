import { el, esc, niceTicks, px, svgDocument, text } from "../common/svg.js";
import { isClean, type Recommendation } from "./recommend.js";
import type { PointResult } from "./sweep.js";

const AXIS = "#333333";
const GRID = "#e5e5e5";
const TARGET = "#d62728";
/** Tableau 10: distinguishable categorical colours, one per batch size. */
const PALETTE = [
  "#1f77b4",
  "#ff7f0e",
  "#2ca02c",
  "#9467bd",
  "#8c564b",
  "#e377c2",
  "#17becf",
  "#bcbd22",
  "#7f7f7f",
  "#d62728",
];
/** One dash pattern per queue delay: colour says batch size, line style says delay. */
const DASHES = ["none", "7 4", "2 3", "10 3 2 3", "4 4"];

const fmt = (n: number) => Math.round(n).toLocaleString("en-US");
const ms = (n: number) => (n >= 10 ? n.toFixed(0) : n >= 1 ? n.toFixed(1) : n.toFixed(2));

export function describePoint(p: PointResult): string {
  return `batch ${p.maxBatchSize}, delay ${p.maxQueueDelayMs} ms, conc ${p.concurrency}`;
}

/**
 * Throughput (y) against p99 latency (x, log scale), one line per (batch
 * size, delay) joining its points in order of increasing concurrency: more
 * concurrency moves a line up (fuller batches) and right (longer queues). The
 * p99 target is a vertical line; the recommended point is ringed and labelled.
 */
export function tuneSvg(points: readonly PointResult[], rec: Recommendation, p99TargetMs: number): string {
  const left = 80;
  const top = 56;
  const w = 560;
  const h = 360;
  const legendX = left + w + 24;
  const width = legendX + 170;
  const height = top + h + 64;
  const shown = points.filter((p) => p.requests > 0);
  const latencies = [p99TargetMs, ...shown.map((p) => p.latency.p99Ms)];
  const xAxis = logAxis(Math.min(...latencies), Math.max(...latencies));
  const yTicks = niceTicks(Math.max(0, ...shown.map((p) => p.itemsPerS)) * 1.05);
  const yMax = yTicks[yTicks.length - 1]!;
  const sx = (v: number) => left + xAxis.fraction(v) * w;
  const sy = (v: number) => top + h - (v / yMax) * h;
  const targetX = sx(p99TargetMs);

  const body: string[] = [
    // Beyond the target: lightly shaded, so the qualifying region reads at a glance.
    el("rect", {
      x: targetX,
      y: top,
      width: left + w - targetX,
      height: h,
      fill: TARGET,
      "fill-opacity": 0.05,
    }),
  ];
  for (const v of xAxis.ticks) {
    body.push(
      el("line", { x1: sx(v), y1: top, x2: sx(v), y2: top + h, stroke: GRID }),
      text(sx(v), top + h + 18, v < 1 ? String(v) : fmt(v), { "text-anchor": "middle" }),
    );
  }
  for (const v of yTicks) {
    body.push(
      el("line", { x1: left, y1: sy(v), x2: left + w, y2: sy(v), stroke: GRID }),
      text(left - 8, sy(v) + 4, fmt(v), { "text-anchor": "end" }),
    );
  }
  body.push(
    el("rect", { x: left, y: top, width: w, height: h, fill: "none", stroke: AXIS }),
    text(left + w / 2, top + h + 44, "p99 latency (ms, log scale)", { "text-anchor": "middle" }),
    text(22, top + h / 2, "throughput (items/s)", {
      "text-anchor": "middle",
      transform: `rotate(-90 22 ${px(top + h / 2)})`,
    }),
    el("line", {
      class: "target",
      x1: targetX,
      y1: top,
      x2: targetX,
      y2: top + h,
      stroke: TARGET,
      "stroke-width": 1.5,
      "stroke-dasharray": "6 4",
    }),
    text(targetX + 4, top + 14, `p99 target ${ms(p99TargetMs)} ms`, { fill: TARGET }),
  );

  const batchSizes = [...new Set(points.map((p) => p.maxBatchSize))].sort((a, b) => a - b);
  const delays = [...new Set(points.map((p) => p.maxQueueDelayMs))].sort((a, b) => a - b);
  const colour = (b: number) => PALETTE[batchSizes.indexOf(b) % PALETTE.length]!;
  const dash = (d: number) => DASHES[delays.indexOf(d) % DASHES.length]!;
  for (const b of batchSizes) {
    for (const d of delays) {
      const line = shown
        .filter((p) => p.maxBatchSize === b && p.maxQueueDelayMs === d)
        .sort((p, q) => p.concurrency - q.concurrency);
      if (line.length > 1) {
        body.push(
          el("polyline", {
            class: "series",
            points: line.map((p) => `${px(sx(p.latency.p99Ms))},${px(sy(p.itemsPerS))}`).join(" "),
            fill: "none",
            stroke: colour(b),
            "stroke-width": 1.5,
            "stroke-dasharray": dash(d),
          }),
        );
      }
      for (const p of line) body.push(marker(p, sx(p.latency.p99Ms), sy(p.itemsPerS), colour(b)));
    }
  }
  if (rec.kind === "within-target") body.push(...highlight(rec.point, sx, sy, left + w / 2));
  body.push(
    ...legend(legendX, top, { batchSizes, delays, colour, dash, errors: points.some((p) => !isClean(p)) }),
  );
  const subtitle =
    rec.kind === "within-target"
      ? `best throughput with p99 ≤ ${ms(p99TargetMs)} ms: ${fmt(rec.point.itemsPerS)} items/s`
      : `no setting met p99 ≤ ${ms(p99TargetMs)} ms`;
  body.push(text(left + w / 2, 44, subtitle, { "text-anchor": "middle", fill: "#555555" }));
  return svgDocument(width, height, "Batching sweep: throughput against p99 latency", body);
}

/** A filled dot for a clean point, a hollow one for a point with errors; its tooltip has the figures. */
function marker(p: PointResult, x: number, y: number, colour: string): string {
  const clean = isClean(p);
  const tip =
    `${describePoint(p)}: ${fmt(p.itemsPerS)} items/s, p50 ${ms(p.latency.p50Ms)} ms, ` +
    `p99 ${ms(p.latency.p99Ms)} ms${clean ? "" : `, ${p.errors} errors`}`;
  const attrs = { cx: x, cy: y, r: 4, fill: clean ? colour : "#ffffff", stroke: colour, "stroke-width": 1.5 };
  return el("circle", { class: clean ? "point" : "point error", ...attrs }, el("title", {}, esc(tip)));
}

/** A ring around the recommended point, labelled on whichever side has room. */
function highlight(
  p: PointResult,
  sx: (v: number) => number,
  sy: (v: number) => number,
  middleX: number,
): string[] {
  const cx = sx(p.latency.p99Ms);
  const cy = sy(p.itemsPerS);
  const onLeft = cx > middleX;
  return [
    el("circle", { class: "recommended", cx, cy, r: 9, fill: "none", stroke: "#000000", "stroke-width": 2 }),
    // A white halo keeps the label readable over the lines under it.
    text(onLeft ? cx - 14 : cx + 14, cy - 12, `recommended: ${describePoint(p)}`, {
      "text-anchor": onLeft ? "end" : "start",
      "font-weight": "bold",
      stroke: "#ffffff",
      "stroke-width": 3,
      "paint-order": "stroke",
    }),
  ];
}

interface LegendInput {
  readonly batchSizes: readonly number[];
  readonly delays: readonly number[];
  readonly colour: (b: number) => string;
  readonly dash: (d: number) => string;
  /** Whether any point had errors (only then is the hollow marker explained). */
  readonly errors: boolean;
}

function legend(x: number, y: number, l: LegendInput): string[] {
  const out = [text(x, y + 10, "batch size", { "font-weight": "bold" })];
  let row = y + 30;
  for (const b of l.batchSizes) {
    out.push(el("circle", { cx: x + 8, cy: row - 4, r: 4, fill: l.colour(b) }), text(x + 22, row, String(b)));
    row += 18;
  }
  row += 10;
  out.push(text(x, row, "queue delay", { "font-weight": "bold" }));
  row += 20;
  for (const d of l.delays) {
    out.push(
      el("line", {
        x1: x,
        y1: row - 4,
        x2: x + 28,
        y2: row - 4,
        stroke: AXIS,
        "stroke-dasharray": l.dash(d),
      }),
      text(x + 36, row, `${d} ms`),
    );
    row += 18;
  }
  row += 10;
  out.push(
    el("circle", { cx: x + 8, cy: row - 4, r: 7, fill: "none", stroke: "#000000", "stroke-width": 2 }),
    text(x + 22, row, "recommended"),
  );
  if (l.errors) {
    row += 18;
    out.push(
      el("circle", { cx: x + 8, cy: row - 4, r: 4, fill: "#ffffff", stroke: AXIS, "stroke-width": 1.5 }),
      text(x + 22, row, "had errors"),
    );
  }
  out.push(
    text(x, row + 26, "lines join increasing", { fill: "#555555" }),
    text(x, row + 42, "concurrency", { fill: "#555555" }),
  );
  return out;
}

/**
 * A log axis from a 1-2-5 value at or below `min` to one at or above `max`,
 * with a tick at every 1-2-5 value between. Latency is log-scaled because a
 * sweep spans milliseconds to seconds, and the part that matters, around the
 * target, would otherwise be squeezed against the axis.
 */
export function logAxis(min: number, max: number): { ticks: number[]; fraction: (v: number) => number } {
  const steps = [1, 2, 5, 10];
  const snap = (v: number, down: boolean) => {
    const mag = 10 ** Math.floor(Math.log10(v));
    const fits = steps.map((m) => m * mag).filter((s) => (down ? s <= v * (1 + 1e-9) : s >= v * (1 - 1e-9)));
    return down ? Math.max(...fits) : Math.min(...fits);
  };
  // A zero latency (nothing measured) must not send the axis to -∞.
  const lo = snap(Math.max(min, 0.01), true);
  const hi = Math.max(snap(Math.max(max, 0.01), false), lo * 2);
  const ticks: number[] = [];
  for (let mag = 10 ** Math.floor(Math.log10(lo)); mag <= hi; mag *= 10) {
    for (const m of steps.slice(0, 3)) {
      const v = Number((m * mag).toPrecision(6));
      if (v >= lo * (1 - 1e-9) && v <= hi * (1 + 1e-9)) ticks.push(v);
    }
  }
  const span = Math.log(hi / lo);
  return { ticks, fraction: (v) => Math.log(Math.min(hi, Math.max(v, lo)) / lo) / span };
}
