import { isConfigError } from "../config/index.js";
import { CliError } from "./fail.js";
import { NAME, Printed, runCommandLine } from "./program.js";

/**
 * The `relevance-gateway` executable: runs the command line (program.ts) and turns its errors into
 * one line on stderr and the exit code: 0 ok (help and --version included), 1 runtime error,
 * 2 usage or configuration error.
 */

// A reader that stopped early (`relevance-gateway bench --help | head -1`) is not a failure: the
// output is simply not wanted any more.
process.stdout.on("error", (err: NodeJS.ErrnoException) => {
  if (err.code === "EPIPE") process.exit(process.exitCode ?? 0);
  throw err;
});

runCommandLine(process.argv.slice(2)).catch((err: unknown) => {
  if (err instanceof Printed) return;
  if (err instanceof CliError || isConfigError(err)) {
    process.stderr.write(`${NAME}: ${(err as Error).message}\n`);
    process.exitCode = err instanceof CliError ? err.exitCode : 2;
    return;
  }
  process.stderr.write(`${NAME}: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});
