import { formatEffectiveConfig, loadConfigFile, redactConfigKeepingShape } from "../config/index.js";
import { CliError } from "./fail.js";

/**
 * `check-config FILE`: prints the effective (fully defaulted) config, or one
 * line naming the bad field. Secrets (`tracing.headers` values, tokens, API
 * key digests) print as "[redacted]": the output lands in terminals, CI logs
 * and tickets. Unlike GET /admin/config, a secret mapping keeps its keys (the
 * header names), so the output still loads as a config (the deploy tests read
 * it back), except where a digest's format is checked.
 */
export function checkConfig(path: string | undefined): void {
  if (!path) throw new CliError("check-config: FILE is required");
  const cfg = loadConfigFile(path);
  process.stdout.write(`# ${path}: valid; effective configuration with every default filled in\n`);
  process.stdout.write(formatEffectiveConfig(redactConfigKeepingShape(cfg) as typeof cfg));
}
