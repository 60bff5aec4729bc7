import { closeSync, constants, fstatSync, openSync, readSync } from "node:fs";
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

/** Alias expansions a config may use; more is a "billion laughs" document. */
const MAX_ALIAS_COUNT = 100;

/** The largest config file read (at start and on a reload); a config is a few kilobytes. */
export const MAX_CONFIG_FILE_BYTES = 1024 * 1024;

/** Reads and validates a config file. `overrides` defaults to the process environment. */
export function loadConfigFile(path: string, overrides: EnvOverrides = readEnv()): GatewayConfig {
  return parseConfig(readConfigText(path), path, overrides);
}

/**
 * The text of the config file at `path`, refusing with a ConfigError what is
 * not a config: a directory, a FIFO or device (opened without blocking, so a
 * FIFO with no writer cannot stall the process), a file over
 * MAX_CONFIG_FILE_BYTES (or one growing past it while read), or bytes that are
 * not UTF-8 text. A reload reads the file while the gateway serves, so nothing
 * here may block for long or take unbounded memory.
 */
export function readConfigText(path: string): string {
  const fail = (reason: string, cause?: unknown): never => {
    throw new ConfigError(`cannot read config file ${path}: ${reason}`, { cause });
  };
  let fd: number | undefined;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (err) {
    return fail(firstLine(err instanceof Error ? err.message : String(err)), err);
  }
  try {
    const stat = fstatSync(fd);
    if (stat.isDirectory()) return fail("it is a directory");
    if (!stat.isFile()) return fail("not a regular file (a FIFO, socket or device)");
    if (stat.size > MAX_CONFIG_FILE_BYTES) {
      return fail(`${stat.size} bytes, over the limit of ${MAX_CONFIG_FILE_BYTES} bytes`);
    }
    // One byte more than the cap, to notice a file that grew after the size check.
    const buffer = Buffer.alloc(MAX_CONFIG_FILE_BYTES + 1);
    let length = 0;
    for (;;) {
      const n = readSync(fd, buffer, length, buffer.length - length, null);
      if (n === 0) break;
      length += n;
      if (length > MAX_CONFIG_FILE_BYTES) {
        return fail(`over the limit of ${MAX_CONFIG_FILE_BYTES} bytes (it grew while read)`);
      }
    }
    try {
      return utf8.decode(buffer.subarray(0, length));
    } catch (err) {
      return fail("not UTF-8 text (a binary file?)", err);
    }
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    return fail(firstLine(err instanceof Error ? err.message : String(err)), err);
  } finally {
    closeSync(fd);
  }
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

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
  // The alias cap refuses "billion laughs" documents that expand aliases exponentially;
  // the yaml library says so with a plain error, made a ConfigError here like every other.
  let input: unknown;
  try {
    input = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    throw new ConfigError(
      `${source}: YAML aliases expand too far (over ${MAX_ALIAS_COUNT}; ${firstLine(reason)})`,
      { cause: err },
    );
  }
  return validateConfig(input, overrides);
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
 * The fully defaulted config as YAML. It re-parses to an equal config, so it
 * holds secrets as they are: `check-config` prints it through `redactConfig`.
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
