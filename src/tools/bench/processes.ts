/**
 * The servers a scenario measures, each started as its own process from the
 * built CLI (`relevance-gateway sim …`, `serve --config …`) or the bare
 * server's entry, and stopped with SIGTERM. Separate processes keep every
 * server's event loop to itself and make its memory and CPU readable from
 * /proc (proc-stats.ts).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { cacheConfigured } from "./configs.js";
import { nodeArgsFor, siblingModule } from "./module-url.js";

const CLI = siblingModule(import.meta.url, "../../cli/main.js");
const BARE_SERVER = siblingModule(import.meta.url, "./bare-server-main.js");
/** Output kept per child, for the error message when it dies. */
const MAX_LOG_CHARS = 16_384;

export interface ChildServer {
  readonly name: string;
  readonly pid: number;
  /** The `ready` pattern's match on the child's output. */
  readonly match: RegExpExecArray;
  /** The end of what it has written, for diagnostics. */
  logs(): string;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves once it has exited. */
  stop(graceMs?: number): Promise<void>;
}

export interface SpawnOptions {
  readonly name: string;
  readonly module: URL;
  readonly args: readonly string[];
  /** Resolves the start once the child's stdout or stderr matches. */
  readonly ready: RegExp;
  /** Node flags for the child (e.g. --cpu-prof). */
  readonly nodeFlags?: readonly string[] | undefined;
  readonly startTimeoutMs?: number | undefined;
}

/** Every server started and not yet stopped, so an interrupted run can stop them all. */
const live = new Set<ChildProcess>();

/** SIGTERM to every server still running (the bench was interrupted); resolves when all have exited. */
export async function stopAllServers(): Promise<void> {
  await Promise.all(
    [...live].map(
      (child) =>
        new Promise<void>((resolve) => {
          if (child.exitCode !== null || child.signalCode !== null) return resolve();
          child.once("exit", () => resolve());
          child.kill("SIGTERM");
        }),
    ),
  );
}

export function spawnServer(opts: SpawnOptions): Promise<ChildServer> {
  const args = [...(opts.nodeFlags ?? []), ...nodeArgsFor(opts.module, process.execArgv), ...opts.args];
  const child: ChildProcess = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "pipe"] });
  live.add(child);
  child.once("exit", () => live.delete(child));
  let seen = "";
  let matched: RegExpExecArray | null = null;
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const stop = async (graceMs = 15_000): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
    await exited;
    clearTimeout(timer);
  };
  return new Promise<ChildServer>((resolve, reject) => {
    const timeout = setTimeout(() => {
      void stop(1000);
      reject(new Error(`${opts.name} did not start within ${opts.startTimeoutMs ?? 30_000} ms:\n${seen}`));
    }, opts.startTimeoutMs ?? 30_000);
    // Output is always drained (a full pipe would block the child) and its tail kept.
    const onData = (chunk: Buffer) => {
      seen += chunk.toString();
      if (seen.length > MAX_LOG_CHARS) seen = seen.slice(-MAX_LOG_CHARS);
      if (matched) return;
      matched = opts.ready.exec(seen);
      if (!matched) return;
      clearTimeout(timeout);
      resolve({ name: opts.name, pid: child.pid!, match: matched, logs: () => seen, stop });
    };
    child.stdout!.on("data", onData);
    child.stderr!.on("data", onData);
    child.once("exit", (code, signal) => {
      clearTimeout(timeout);
      if (!matched)
        reject(new Error(`${opts.name} exited (${code ?? signal}) before it was ready:\n${seen}`));
    });
  });
}

/** The Triton simulator's cost model and batch cap (`relevance-gateway sim triton`). */
export interface TritonSimSpec {
  readonly baseMs: number;
  readonly perItemMs: number;
  readonly instances: number;
  readonly maxBatchSize: number;
  /** Queued calls merge into one batch, as in Triton's dynamic batcher (`sim triton --merge-queued`). */
  readonly mergeQueued?: boolean | undefined;
}

export interface TritonSimProcess extends ChildServer {
  /** "127.0.0.1:port" (gRPC). */
  readonly address: string;
  readonly metricsUrl: string;
}

export async function startTritonSim(name: string, spec: TritonSimSpec): Promise<TritonSimProcess> {
  const server = await spawnServer({
    name,
    module: CLI,
    args: [
      "sim",
      "triton",
      ...["--port", "0", "--metrics-port", "0"],
      ...["--base-ms", String(spec.baseMs), "--per-item-ms", String(spec.perItemMs)],
      ...["--instances", String(spec.instances), "--max-batch-size", String(spec.maxBatchSize)],
      ...(spec.mergeQueued === true ? ["--merge-queued"] : []),
    ],
    ready: /triton simulator: gRPC (127\.0\.0\.1:\d+), metrics (http:\/\/127\.0\.0\.1:\d+\/metrics)/,
  });
  return { ...server, address: server.match[1]!, metricsUrl: server.match[2]! };
}

export interface VllmSimProcess extends ChildServer {
  readonly url: string;
}

/** `relevance-gateway sim vllm` with extra flags (fault injection). */
export async function startVllmSim(name: string, flags: readonly string[]): Promise<VllmSimProcess> {
  const server = await spawnServer({
    name,
    module: CLI,
    args: ["sim", "vllm", "--port", "0", ...flags],
    ready: /vllm simulator: HTTP (http:\/\/127\.0\.0\.1:\d+)/,
  });
  return { ...server, url: server.match[1]! };
}

export interface GatewayProcess extends ChildServer {
  readonly target: string;
  readonly adminUrl: string;
  /** Its config turns a backend's score cache on. */
  readonly cacheOn: boolean;
}

/** Where bench gateways write temporary config files; removed by `cleanUp`. */
export class Scratch {
  readonly dir = mkdtempSync(join(tmpdir(), "rg-bench-"));
  #n = 0;

  file(name: string, content: string): string {
    const path = join(this.dir, `${this.#n++}-${name}`);
    writeFileSync(path, content);
    return path;
  }

  cleanUp(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/**
 * `relevance-gateway serve` with `config` (JSON is YAML), listening on free
 * ports; resolves once /readyz answers 200 (its default backend is ready).
 */
export async function startGateway(
  name: string,
  config: object,
  scratch: Scratch,
  nodeFlags: readonly string[] = [],
): Promise<GatewayProcess> {
  const file = scratch.file(`${name.replace(/[^a-z0-9-]+/gi, "-")}.json`, JSON.stringify(config));
  const server = await spawnServer({
    name,
    module: CLI,
    args: ["serve", "--config", file],
    ready: /"grpc":"(127\.0\.0\.1:\d+)".*?"admin":"(127\.0\.0\.1:\d+)"/,
    nodeFlags,
  });
  const gateway = {
    ...server,
    target: server.match[1]!,
    adminUrl: `http://${server.match[2]!}`,
    cacheOn: cacheConfigured(config),
  };
  try {
    await waitUntil(async () => (await fetch(`${gateway.adminUrl}/readyz`)).ok, 15_000);
  } catch (err) {
    await gateway.stop();
    throw new Error(`${name} did not become ready: ${(err as Error).message}\n${gateway.logs()}`);
  }
  return gateway;
}

/** The bare grpc-js + proto-loader Score server (bare-server.ts) as its own process. */
export async function startBareServer(
  name: string,
  nodeFlags: readonly string[] = [],
): Promise<ChildServer & { readonly target: string }> {
  const server = await spawnServer({
    name,
    module: BARE_SERVER,
    nodeFlags,
    args: [],
    ready: /bare score server: gRPC (127\.0\.0\.1:\d+)/,
  });
  return { ...server, target: server.match[1]! };
}

async function waitUntil(check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const until = performance.now() + timeoutMs;
  let last = "";
  while (performance.now() < until) {
    try {
      if (await check()) return;
    } catch (err) {
      last = (err as Error).message;
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`timed out after ${timeoutMs} ms${last ? ` (${last})` : ""}`);
}

/** The sum of a Prometheus metric's samples whose label set contains `labels` (e.g. `model="x"`). */
export function metricSum(exposition: string, name: string, labels = ""): number {
  let sum = 0;
  for (const line of exposition.split("\n")) {
    if (!line.startsWith(name)) continue;
    const rest = line.slice(name.length);
    if (rest[0] !== "{" && rest[0] !== " ") continue;
    if (labels && !rest.includes(labels)) continue;
    const value = Number(line.slice(line.lastIndexOf(" ") + 1));
    if (Number.isFinite(value)) sum += value;
  }
  return sum;
}

export async function scrape(url: string): Promise<string> {
  const res = await fetch(url);
  return res.text();
}
