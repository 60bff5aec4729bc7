/**
 * Summarises a V8 .cpuprofile (`node --cpu-prof`): self time per function
 * and per area of the code (grpc-js and HTTP/2, garbage collection, each
 * gateway folder, …), as shares of the time the process was not idle.
 */
import { readFileSync } from "node:fs";

interface CallFrame {
  readonly functionName: string;
  readonly url: string;
  readonly lineNumber: number;
}
interface ProfileNode {
  readonly id: number;
  readonly callFrame: CallFrame;
  readonly children?: readonly number[];
}
/** The parts of the .cpuprofile format used here. */
export interface CpuProfile {
  readonly nodes: readonly ProfileNode[];
  readonly samples: readonly number[];
  /** Microseconds between consecutive samples. */
  readonly timeDeltas: readonly number[];
}

export interface SelfTime {
  readonly name: string;
  readonly area: string;
  readonly ms: number;
  /** Of busy (non-idle) time. */
  readonly share: number;
}

export interface ProfileSummary {
  readonly sampledMs: number;
  readonly busyMs: number;
  readonly areas: readonly { readonly area: string; readonly ms: number; readonly share: number }[];
  readonly functions: readonly SelfTime[];
  /** The gateway's own functions by total time (self and everything they call). */
  readonly gatewayTotals: readonly SelfTime[];
}

const GATEWAY_DIR = /(?:^|\/)(?:dist|src)\/(.+?)\.(?:js|ts)$/;

/** Which part of the system a frame belongs to. */
export function areaOf(frame: CallFrame): string {
  const { url, functionName } = frame;
  if (functionName === "(garbage collector)") return "garbage collection";
  if (functionName === "(idle)") return "idle";
  if (functionName === "(program)" || functionName === "(root)") return "V8 / native";
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url);
  if (pkg) return pkg[1] === "@grpc/grpc-js" ? "grpc-js + HTTP/2" : pkg[1]!;
  if (/^node:(?:internal\/)?http2/.test(url)) return "grpc-js + HTTP/2";
  if (/^node:internal\/(?:modules|vm)/.test(url)) return "module loading (start-up)";
  if (url.startsWith("node:")) {
    // node:internal/streams/writable → "node: streams"; node:buffer → "node: buffer".
    const parts = url.slice("node:".length).split("/");
    return `node: ${parts[0] === "internal" && parts[1] ? parts[1].replace(/\.js$/, "") : parts[0]}`;
  }
  const own = GATEWAY_DIR.exec(url);
  if (own) {
    const path = own[1]!;
    return `gateway: ${path.includes("/") ? path.slice(0, path.indexOf("/")) : path}`;
  }
  return url === "" ? "V8 / native" : "other";
}

function shortUrl(url: string): string {
  const pkg = url.lastIndexOf("node_modules/");
  if (pkg >= 0) return url.slice(pkg + "node_modules/".length);
  const own = /(?:^|\/)(?:dist|src)\/(.+)$/.exec(url);
  return own ? own[1]! : url;
}

export function summariseProfile(profile: CpuProfile, top = 20): ProfileSummary {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
  const perFunction = new Map<string, { name: string; area: string; us: number }>();
  const totals = new Map<string, { name: string; area: string; us: number }>();
  const perArea = new Map<string, number>();
  let sampledUs = 0;
  let idleUs = 0;
  const n = profile.samples.length;
  const meanDelta = n > 1 ? profile.timeDeltas.slice(1).reduce((a, b) => a + b, 0) / (n - 1) : 0;
  for (let i = 0; i < n; i++) {
    const node = byId.get(profile.samples[i]!);
    if (!node) continue;
    // A sample stands for the time until the next one.
    const us = i + 1 < n ? Math.max(0, profile.timeDeltas[i + 1] ?? 0) : meanDelta;
    sampledUs += us;
    const area = areaOf(node.callFrame);
    if (area === "idle") {
      idleUs += us;
      continue;
    }
    perArea.set(area, (perArea.get(area) ?? 0) + us);
    const name = frameName(node.callFrame);
    const entry = perFunction.get(name) ?? { name, area, us: 0 };
    entry.us += us;
    perFunction.set(name, entry);
    // Every distinct gateway function on the stack gets the sample (recursion counted once).
    const seen = new Set<string>();
    for (let id: number | undefined = node.id; id !== undefined; id = parent.get(id)) {
      const frame = byId.get(id)?.callFrame;
      if (!frame) break;
      const frameArea = areaOf(frame);
      if (!frameArea.startsWith("gateway:")) continue;
      const key = frameName(frame);
      if (seen.has(key)) continue;
      seen.add(key);
      const total = totals.get(key) ?? { name: key, area: frameArea, us: 0 };
      total.us += us;
      totals.set(key, total);
    }
  }
  const busyUs = sampledUs - idleUs;
  const share = (us: number) => (busyUs > 0 ? us / busyUs : 0);
  return {
    sampledMs: sampledUs / 1000,
    busyMs: busyUs / 1000,
    areas: [...perArea]
      .sort((a, b) => b[1] - a[1])
      .map(([area, us]) => ({ area, ms: us / 1000, share: share(us) })),
    functions: ranked(perFunction, top, share),
    gatewayTotals: ranked(totals, top, share),
  };
}

function frameName(f: CallFrame): string {
  return `${f.functionName || "(anonymous)"}${f.url ? ` ${shortUrl(f.url)}:${f.lineNumber + 1}` : ""}`;
}

function ranked(
  entries: ReadonlyMap<string, { name: string; area: string; us: number }>,
  top: number,
  share: (us: number) => number,
): SelfTime[] {
  return [...entries.values()]
    .sort((a, b) => b.us - a.us)
    .slice(0, top)
    .map((f) => ({ name: f.name, area: f.area, ms: f.us / 1000, share: share(f.us) }));
}

export function formatProfileSummary(title: string, s: ProfileSummary): string {
  const pct = (x: number) => `${(100 * x).toFixed(1).padStart(5)}%`;
  const busy = s.sampledMs > 0 ? s.busyMs / s.sampledMs : 0;
  return [
    `${title}: ${(s.sampledMs / 1000).toFixed(1)} s sampled, busy ${pct(busy).trim()} of it`,
    "  self time by area (share of busy time; areas under 0.5% left out):",
    ...s.areas.filter((a) => a.share >= 0.005).map((a) => `    ${pct(a.share)}  ${a.area}`),
    "  top functions by self time:",
    ...s.functions.map((f) => `    ${pct(f.share)}  ${f.name}`),
    "  gateway functions by total time (self + callees):",
    ...s.gatewayTotals.map((f) => `    ${pct(f.share)}  ${f.name}`),
    "",
  ].join("\n");
}

export function readProfile(path: string): CpuProfile {
  return JSON.parse(readFileSync(path, "utf8")) as CpuProfile;
}
