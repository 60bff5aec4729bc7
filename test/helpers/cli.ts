import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdtempSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const SOURCE = new URL("../../src/cli/main.ts", import.meta.url).pathname;
const BUILT = new URL("../../dist/cli/main.js", import.meta.url).pathname;
const SRC_DIR = new URL("../../src/", import.meta.url).pathname;

/**
 * The node arguments that run the `relevance-gateway` CLI. `npm test` builds
 * first, so the compiled CLI is used (starting it through the TypeScript
 * loader costs seconds per process on a loaded machine); when there is no
 * build, or it is older than the sources' folder, the sources run through the
 * loader tap itself uses.
 */
export function cliArgs(...args: string[]): string[] {
  if (existsSync(BUILT) && statSync(BUILT).mtimeMs >= statSync(SRC_DIR).mtimeMs) return [BUILT, ...args];
  return [...process.execArgv, SOURCE, ...args];
}

export interface ServeProcess {
  readonly child: ChildProcess;
  /** "127.0.0.1:<port>" of its gRPC listener. */
  readonly target: string;
  /** Resolves with the exit code. */
  readonly exited: Promise<number | null>;
  /** The config file it was started with. */
  readonly file: string;
  /** Everything it has written to stdout and stderr so far. */
  logs(): string;
}

/**
 * `relevance-gateway serve` as its own process with `config` (written to a
 * temporary file); resolves once it logs that it listens. Stopping it is the
 * caller's business (SIGTERM), since some tests are about exactly that.
 * `nodeArgs` go to node before the CLI (`--import` of a loader hook).
 */
export async function startServeProcess(
  config: object,
  env: Record<string, string> = {},
  nodeArgs: readonly string[] = [],
): Promise<ServeProcess> {
  const file = join(mkdtempSync(join(tmpdir(), "rg-serve-")), "gateway.yaml");
  writeFileSync(file, JSON.stringify({ logging: { level: "info" }, ...config }));
  const child = spawn(process.execPath, [...nodeArgs, ...cliArgs("serve", "--config", file)], {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, ...env },
  });
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  let logs = "";
  child.stderr!.on("data", (c: Buffer) => {
    logs += c.toString();
  });
  const target = await new Promise<string>((resolve, reject) => {
    child.stdout!.on("data", (chunk: Buffer) => {
      logs += chunk.toString();
      const m = /"grpc":"127\.0\.0\.1:(\d+)"[^\n]*"msg":"listening"/.exec(logs);
      if (m) resolve(`127.0.0.1:${m[1]}`);
    });
    void exited.then((code) => reject(new Error(`gateway exited early with ${code}: ${logs}`)));
  });
  return { child, target, exited, file, logs: () => logs };
}
