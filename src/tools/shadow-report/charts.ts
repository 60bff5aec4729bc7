import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { BLUES, colourScale, el, niceTicks, px, svgDocument, text } from "../common/svg.js";
import { LABEL_VALUES, type ScatterSample, type ShadowAggregate } from "./aggregate.js";

const count = (n: number) => n.toLocaleString("en-US");
const AXIS = "#333333";
const GRID = "#e5e5e5";

/** 5×5 heat map of documents by student label (rows) and teacher label (columns). */
export function confusionSvg(confusion: readonly (readonly number[])[]): string {
  const cell = 72;
  const left = 110;
  const top = 78;
  const size = cell * LABEL_VALUES.length;
  const width = left + size + 130;
  const height = top + size + 70;
  const max = Math.max(1, ...confusion.flat());
  const total = confusion.flat().reduce((a, b) => a + b, 0);
  const body: string[] = [
    text(width / 2, 44, `${count(total)} documents; outlined cells are agreements`, {
      "text-anchor": "middle",
      fill: "#555555",
    }),
  ];
  for (let s = 0; s < LABEL_VALUES.length; s++) {
    for (let t = 0; t < LABEL_VALUES.length; t++) {
      const n = confusion[s]?.[t] ?? 0;
      const x = left + t * cell;
      const y = top + s * cell;
      body.push(
        el("rect", {
          class: "cell",
          x,
          y,
          width: cell,
          height: cell,
          fill: colourScale(BLUES, n / max),
          stroke: "#ffffff",
        }),
        text(x + cell / 2, y + cell / 2 + 5, count(n), {
          "text-anchor": "middle",
          "font-size": 14,
          fill: n / max > 0.5 ? "#ffffff" : "#111111",
        }),
      );
    }
  }
  // Outlines go on top of all cells so that no neighbour's border paints over them.
  for (let i = 0; i < LABEL_VALUES.length; i++) {
    const at = { x: left + i * cell + 1, y: top + i * cell + 1, width: cell - 2, height: cell - 2 };
    body.push(el("rect", { ...at, fill: "none", stroke: "#d62728", "stroke-width": 2 }));
  }
  for (const [i, label] of LABEL_VALUES.entries()) {
    const c = i * cell + cell / 2;
    body.push(
      text(left - 10, top + c + 5, String(label), { "text-anchor": "end", "font-size": 13 }),
      text(left + c, top + size + 20, String(label), { "text-anchor": "middle", "font-size": 13 }),
    );
  }
  body.push(
    text(left + size / 2, top + size + 48, "teacher label", { "text-anchor": "middle", "font-size": 13 }),
    text(40, top + size / 2, "student label", {
      "text-anchor": "middle",
      "font-size": 13,
      transform: `rotate(-90 40 ${px(top + size / 2)})`,
    }),
    ...colourLegend(left + size + 40, top, size, max),
  );
  return svgDocument(width, height, "Label confusion: student × teacher", body);
}

/** A vertical colour bar from 0 (bottom) to `max` (top). */
function colourLegend(x: number, y: number, h: number, max: number): string[] {
  const stops = BLUES.map((_, i) =>
    el("stop", { offset: `${(i / (BLUES.length - 1)) * 100}%`, "stop-color": colourScale(BLUES, i / 4) }),
  );
  return [
    `<defs>${el("linearGradient", { id: "scale", x1: 0, y1: 1, x2: 0, y2: 0 }, stops.join(""))}</defs>`,
    el("rect", { x, y, width: 18, height: h, fill: "url(#scale)", stroke: AXIS, "stroke-width": 0.5 }),
    text(x + 24, y + 10, count(max)),
    text(x + 24, y + h, "0"),
    text(x + 9, y - 10, "documents", { "text-anchor": "middle" }),
  ];
}

/** Student ER (x) against teacher ER (y) per sampled document, with the y = x diagonal. */
export function expectedRelevanceSvg(sample: ScatterSample): string {
  const left = 70;
  const top = 60;
  const size = 440;
  const width = left + size + 30;
  const height = top + size + 60;
  const lo = LABEL_VALUES[0];
  const hi = LABEL_VALUES[LABEL_VALUES.length - 1]!;
  const sx = (v: number) => left + ((v - lo) / (hi - lo)) * size;
  const sy = (v: number) => top + size - ((v - lo) / (hi - lo)) * size;
  const body: string[] = [];
  for (let v = lo; v <= hi; v += 0.5) {
    body.push(
      el("line", { x1: sx(v), y1: top, x2: sx(v), y2: top + size, stroke: GRID }),
      el("line", { x1: left, y1: sy(v), x2: left + size, y2: sy(v), stroke: GRID }),
    );
    if (Number.isInteger(v)) {
      body.push(
        text(sx(v), top + size + 18, String(v), { "text-anchor": "middle" }),
        text(left - 8, sy(v) + 4, String(v), { "text-anchor": "end" }),
      );
    }
  }
  body.push(el("rect", { x: left, y: top, width: size, height: size, fill: "none", stroke: AXIS }));
  const dots = sample.points.map(([s, t]) =>
    el("circle", { class: "dot", cx: sx(s), cy: sy(t), r: 2.2, fill: "#1f77b4", "fill-opacity": 0.3 }),
  );
  body.push(`<g>\n${dots.join("\n")}\n</g>`);
  body.push(
    el("line", {
      class: "diagonal",
      x1: sx(lo),
      y1: sy(lo),
      x2: sx(hi),
      y2: sy(hi),
      stroke: "#d62728",
      "stroke-width": 1.5,
      "stroke-dasharray": "6 4",
    }),
    text(left + size / 2, top + size + 42, "student expected relevance", { "text-anchor": "middle" }),
    text(20, top + size / 2, "teacher expected relevance", {
      "text-anchor": "middle",
      transform: `rotate(-90 20 ${px(top + size / 2)})`,
    }),
  );
  const shown =
    sample.points.length === sample.total
      ? `document (${count(sample.total)})`
      : `document (${count(sample.points.length)} sampled of ${count(sample.total)})`;
  const lx = left + 12;
  const ly = top + 12;
  body.push(
    el("rect", {
      x: lx - 6,
      y: ly - 6,
      width: 250,
      height: 44,
      fill: "#ffffff",
      "fill-opacity": 0.85,
      stroke: GRID,
    }),
    el("circle", { cx: lx + 8, cy: ly + 6, r: 3, fill: "#1f77b4", "fill-opacity": 0.6 }),
    text(lx + 22, ly + 10, shown),
    el("line", {
      x1: lx,
      y1: ly + 26,
      x2: lx + 16,
      y2: ly + 26,
      stroke: "#d62728",
      "stroke-dasharray": "6 4",
    }),
    text(lx + 22, ly + 30, "y = x (teacher agrees with student)"),
  );
  return svgDocument(width, height, "Expected relevance per document: student vs teacher", body);
}

/** Histogram of per-request Kendall τ, with the median marked. */
export function kendallTauSvg(tau: ShadowAggregate["kendallTau"]): string {
  const left = 70;
  const top = 60;
  const w = 560;
  const h = 280;
  const width = left + w + 30;
  const height = top + h + 60;
  const max = Math.max(0, ...tau.histogram.map((b) => b.count));
  const ticks = niceTicks(max);
  const yMax = ticks[ticks.length - 1]!;
  const sx = (v: number) => left + ((v + 1) / 2) * w;
  const sy = (v: number) => top + h - (v / yMax) * h;
  const body: string[] = [
    text(
      width / 2,
      44,
      `${count(tau.requests)} requests; ${count(tau.undefinedRequests)} without a defined τ`,
      {
        "text-anchor": "middle",
        fill: "#555555",
      },
    ),
  ];
  for (const v of ticks) {
    body.push(
      el("line", { x1: left, y1: sy(v), x2: left + w, y2: sy(v), stroke: GRID }),
      text(left - 8, sy(v) + 4, count(v), { "text-anchor": "end" }),
    );
  }
  for (const b of tau.histogram) {
    const x = sx(b.from);
    body.push(
      el("rect", {
        class: "bar",
        x: x + 1,
        y: sy(b.count),
        width: sx(b.to) - x - 2,
        height: sy(0) - sy(b.count),
        fill: "#1f77b4",
      }),
    );
  }
  for (const v of [-1, -0.5, 0, 0.5, 1]) {
    body.push(
      el("line", { x1: sx(v), y1: top + h, x2: sx(v), y2: top + h + 5, stroke: AXIS }),
      text(sx(v), top + h + 18, String(v).replace("-", "−"), { "text-anchor": "middle" }),
    );
  }
  body.push(
    el("line", { x1: left, y1: top + h, x2: left + w, y2: top + h, stroke: AXIS }),
    el("line", { x1: left, y1: top, x2: left, y2: top + h, stroke: AXIS }),
    text(left + w / 2, top + h + 42, "Kendall τ between student and teacher ranking", {
      "text-anchor": "middle",
    }),
    text(20, top + h / 2, "requests", {
      "text-anchor": "middle",
      transform: `rotate(-90 20 ${px(top + h / 2)})`,
    }),
  );
  if (tau.p50 !== null) {
    const x = sx(tau.p50);
    body.push(
      el("line", { x1: x, y1: top, x2: x, y2: top + h, stroke: "#d62728", "stroke-dasharray": "6 4" }),
      el("line", {
        x1: left + 12,
        y1: top + 12,
        x2: left + 28,
        y2: top + 12,
        stroke: "#d62728",
        "stroke-dasharray": "6 4",
      }),
      text(left + 34, top + 16, `median τ = ${tau.p50.toFixed(3)}`),
    );
  }
  return svgDocument(width, height, "Kendall τ per request", body);
}

export const CHART_FILES = ["confusion.svg", "expected-relevance.svg", "kendall-tau.svg"] as const;

/** Writes the three charts into `dir` (created if missing); returns their paths. */
export async function writeCharts(
  dir: string,
  summary: ShadowAggregate,
  scatter: ScatterSample,
): Promise<string[]> {
  await mkdir(dir, { recursive: true });
  const contents = [
    confusionSvg(summary.confusion),
    expectedRelevanceSvg(scatter),
    kendallTauSvg(summary.kendallTau),
  ];
  const paths = CHART_FILES.map((f) => join(dir, f));
  await Promise.all(paths.map((p, i) => writeFile(p, contents[i]!)));
  return paths;
}
