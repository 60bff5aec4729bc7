import { el, esc, px, svgDocument, text } from "../common/svg.js";
import { formatTarget, formatValue } from "./report.js";
import type { BenchReport, Goal } from "./results.js";

const AXIS = "#333333";
const GRID = "#e5e5e5";
const MET = "#2ca02c";
const MISSED = "#d62728";
/** Headroom is drawn up to this many times the goal; beyond, the bar is cut and says so. */
const MAX_HEADROOM = 3;

/**
 * How far a figure is on the right side of its goal, as a factor: 1 is
 * exactly at the goal, 2 is twice as good, 0.5 half as good. For an upper
 * bound it is target ÷ measured, for a lower bound measured ÷ target. A
 * difference with an upper bound (the overhead's added milliseconds) can be
 * zero or negative, which is as good as it gets: the maximum is drawn.
 */
export function headroom(g: Pick<Goal, "comparator" | "measured" | "target">): number {
  if (!Number.isFinite(g.measured)) return Number.NaN;
  if (g.comparator === ">=") return g.target > 0 ? g.measured / g.target : Number.NaN;
  if (g.measured <= 0) return MAX_HEADROOM;
  return g.target / g.measured;
}

/** One bar per goal, its length the headroom, a line at 1 (the goal), green when met, red when not. */
export function goalsSvg(report: BenchReport): string {
  const goals = report.scenarios.flatMap((s) => s.goals);
  const left = 330;
  const top = 60;
  const barH = 22;
  const gap = 12;
  const w = 420;
  const width = left + w + 150;
  const height = top + goals.length * (barH + gap) + 60;
  const sx = (v: number) => left + (Math.min(v, MAX_HEADROOM) / MAX_HEADROOM) * w;
  const body: string[] = [
    text(
      width / 2,
      44,
      "bar length: how far each figure is on the right side of its goal (1 = at the goal)",
      {
        "text-anchor": "middle",
        fill: "#555555",
      },
    ),
  ];
  const bottom = top + goals.length * (barH + gap);
  for (let v = 0; v <= MAX_HEADROOM; v += 0.5) {
    body.push(
      el("line", { x1: sx(v), y1: top - 6, x2: sx(v), y2: bottom, stroke: GRID }),
      text(sx(v), bottom + 16, `${v}×`, { "text-anchor": "middle", fill: "#555555" }),
    );
  }
  goals.forEach((g, i) => {
    const y = top + i * (barH + gap);
    const h = headroom(g);
    const colour = g.met ? MET : MISSED;
    const label = `${formatValue(g.measured, g.unit)} (goal ${formatTarget(g)})`;
    body.push(text(left - 10, y + barH / 2 + 4, g.what, { "text-anchor": "end" }));
    if (Number.isFinite(h)) {
      body.push(
        el(
          "rect",
          {
            class: g.met ? "bar met" : "bar missed",
            x: left,
            y,
            width: sx(h) - left,
            height: barH,
            fill: colour,
          },
          el("title", {}, esc(`${g.what}: ${label}. ${g.detail}`)),
        ),
      );
    }
    body.push(
      text(
        Number.isFinite(h) ? sx(h) + 6 : left + 6,
        y + barH / 2 + 4,
        h > MAX_HEADROOM ? `${label} ▸` : label,
      ),
    );
  });
  body.push(
    el("line", {
      class: "goal",
      x1: sx(1),
      y1: top - 10,
      x2: sx(1),
      y2: bottom,
      stroke: AXIS,
      "stroke-width": 2,
      "stroke-dasharray": "6 4",
    }),
    text(sx(1), top - 14, "goal", { "text-anchor": "middle", "font-weight": "bold" }),
    text(left, height - 16, `${report.mode} run, ${report.startedAt}`, { fill: "#555555" }),
  );
  return svgDocument(
    width,
    height,
    `relevance-gateway bench: goals (${px(goals.filter((g) => g.met).length)} of ${goals.length} met)`,
    body,
  );
}
