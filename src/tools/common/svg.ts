/** Small helpers for writing standalone SVG 1.1 by hand. */

export function esc(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}

/** Coordinates rounded to 0.01 px: keeps files small without visible error. */
export function px(n: number): string {
  return String(Math.round(n * 100) / 100);
}

export type Attrs = Record<string, string | number>;

function attrs(a: Attrs): string {
  return Object.entries(a)
    .map(([k, v]) => ` ${k}="${typeof v === "number" ? px(v) : esc(v)}"`)
    .join("");
}

export function el(name: string, a: Attrs, content?: string): string {
  return content === undefined ? `<${name}${attrs(a)}/>` : `<${name}${attrs(a)}>${content}</${name}>`;
}

export function text(x: number, y: number, s: string, a: Attrs = {}): string {
  return el("text", { x, y, ...a }, esc(s));
}

/** The whole document: `title` is both the accessible <title> and the heading drawn at the top. */
export function svgDocument(width: number, height: number, title: string, body: string[]): string {
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" version="1.1" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="Helvetica, Arial, sans-serif" font-size="12">`,
    `<title>${esc(title)}</title>`,
    el("rect", { x: 0, y: 0, width, height, fill: "#ffffff" }),
    text(width / 2, 24, title, { "text-anchor": "middle", "font-size": 15, "font-weight": "bold" }),
    ...body,
    "</svg>",
    "",
  ].join("\n");
}

/** About `count` round tick values from 0 to at least `max` (steps of 1, 2 or 5 × 10^n). */
export function niceTicks(max: number, count = 5): number[] {
  if (max <= 0) return [0, 1];
  const raw = max / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = ([1, 2, 5, 10].find((m) => m * mag >= raw) ?? 10) * mag;
  const ticks: number[] = [];
  for (let v = 0; v < max + step; v += step) ticks.push(Math.round(v * 1e9) / 1e9);
  return ticks;
}

/** Linear interpolation through colour stops given as [r, g, b]; t in [0, 1]. */
export function colourScale(stops: readonly (readonly [number, number, number])[], t: number): string {
  const x = Math.min(1, Math.max(0, t)) * (stops.length - 1);
  const i = Math.min(stops.length - 2, Math.floor(x));
  const f = x - i;
  const a = stops[i]!;
  const b = stops[i + 1]!;
  const c = [0, 1, 2].map((j) => Math.round(a[j]! + (b[j]! - a[j]!) * f));
  return `#${c.map((v) => v.toString(16).padStart(2, "0")).join("")}`;
}

/** A sequential white-to-blue scale, readable in print and for common colour-vision deficiencies. */
export const BLUES = [
  [247, 251, 255],
  [198, 219, 239],
  [107, 174, 214],
  [33, 113, 181],
  [8, 48, 107],
] as const;
