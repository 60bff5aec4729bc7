import { formatEffectiveConfig, loadConfigFile, redactConfig } from "../config/index.js";
import { CliError } from "./fail.js";

/**
 * `check-config FILE`: prints the effective (fully defaulted) config, or one
 * line naming the bad field. Secrets (`tracing.headers`, tokens, API key
 * digests) print as "[redacted]", as GET /admin/config shows them: the output
 * lands in terminals, CI logs and tickets.
 */
export function checkConfig(path: string | undefined): void {
  if (!path) throw new CliError("check-config: FILE is required");
  const cfg = loadConfigFile(path);
  process.stdout.write(`# ${path}: valid; effective configuration with every default filled in\n`);
  process.stdout.write(formatEffectiveConfig(redactConfig(cfg) as typeof cfg));
}
