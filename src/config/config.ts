import { readFileSync } from "node:fs";
import { LineCounter, parseDocument, stringify } from "yaml";
import { type EnvOverrides, readEnv } from "./env.js";
import { ConfigError } from "./errors.js";
import { formatIssues, issueLine } from "./format-issues.js";
import { type GatewayConfig, gatewayConfigSchema } from "./schema.js";

/**
 * Reads, validates and defaults the gateway's YAML configuration. Everything
 * fails fast with a ConfigError whose message is one line naming the file
 * position or the key path; nothing here logs or exits, the caller decides.
 */

/** Reads and validates a config file. `overrides` defaults to the process environment. */
export function loadConfigFile(path: string, overrides: EnvOverrides = readEnv()): GatewayConfig {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    throw new ConfigError(`cannot read config file ${path}: ${firstLine(reason)}`, { cause: err });
  }
  return parseConfig(text, path, overrides);
}

/**
 * Parses YAML text (`source` names it in syntax errors, usually the file path)
 * and validates it. `overrides` defaults to the process environment.
 */
export function parseConfig(
  yamlText: string,
  source: string,
  overrides: EnvOverrides = readEnv(),
): GatewayConfig {
  const lineCounter = new LineCounter();
  // YAML 1.2 core schema: `yes`/`on` stay strings, duplicate keys are errors.
  const doc = parseDocument(yamlText, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const syntaxError = doc.errors[0];
  if (syntaxError !== undefined) {
    const { line, col } = lineCounter.linePos(syntaxError.pos[0]);
    throw new ConfigError(`${source}:${line}:${col}: ${firstLine(syntaxError.message)}`, {
      issues: doc.errors.map((e) => {
        const pos = lineCounter.linePos(e.pos[0]);
        return `${source}:${pos.line}:${pos.col}: ${firstLine(e.message)}`;
      }),
      cause: syntaxError,
    });
  }
  if (doc.contents === null) {
    throw new ConfigError(`${source}: the config is empty; at least "backends" must be set`);
  }
  // The alias cap refuses "billion laughs" documents that expand aliases exponentially.
  return validateConfig(doc.toJS({ maxAliasCount: 100 }), overrides);
}

/**
 * Validates an already-parsed config object (what the YAML holds) and
 * applies defaults and `overrides`. Tests use it to build configs in code;
 * overrides default to none here, since the caller holds the whole config.
 */
export function validateConfig(input: unknown, overrides: EnvOverrides = {}): GatewayConfig {
  const result = gatewayConfigSchema.safeParse(input, { reportInput: true });
  if (!result.success) {
    const issues = formatIssues(result.error.issues);
    const first = issues[0] ?? { path: "", message: "invalid configuration" };
    throw new ConfigError(issueLine(first), { path: first.path, issues: issues.map(issueLine) });
  }
  return applyOverrides(result.data, overrides);
}

/**
 * The fully defaulted config as YAML, for `check-config` and the startup log.
 * It re-parses to an equal config. Nothing in the config is secret yet; when
 * something is (credentials, tokens), redact it here.
 */
export function formatEffectiveConfig(cfg: GatewayConfig): string {
  // Quoted rather than block scalars, so `separator: "\n"` prints as written.
  return stringify(cfg, { lineWidth: 0, blockQuote: false });
}

function applyOverrides(cfg: GatewayConfig, overrides: EnvOverrides): GatewayConfig {
  if (overrides.logging?.level === undefined) return cfg;
  return Object.freeze({
    ...cfg,
    logging: Object.freeze({ ...cfg.logging, level: overrides.logging.level }),
  });
}

function firstLine(text: string): string {
  return text.split("\n", 1)[0] ?? "";
}
