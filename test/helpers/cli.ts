import { existsSync, statSync } from "node:fs";

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
