import { ConfigError } from "./errors.js";
import { LOG_LEVELS, type LogLevel } from "./schema.js";

/**
 * The environment's say in the configuration: the only place in src/ that
 * reads `process.env`. Values are validated here, so an override can never
 * make a valid file invalid, and applied over the file by config.ts.
 */

/** Overrides `logging.level`, e.g. to turn on `debug` for one pod without editing its ConfigMap. */
export const LOG_LEVEL_ENV = "RELEVANCE_GATEWAY_LOG_LEVEL";

/** The keys the environment may override, shaped like the config. */
export interface EnvOverrides {
  readonly logging?: { readonly level?: LogLevel };
}

/**
 * Reads the overrides from `env`. Unset and empty variables (Kubernetes
 * renders an unset value as "") override nothing; case and surrounding
 * whitespace are ignored. Throws ConfigError naming the variable on a bad value.
 */
export function readEnv(env: Readonly<Record<string, string | undefined>> = process.env): EnvOverrides {
  const raw = env[LOG_LEVEL_ENV]?.trim().toLowerCase();
  if (raw === undefined || raw === "") return {};
  if (!isLogLevel(raw)) {
    const message = `${LOG_LEVEL_ENV}: must be one of ${LOG_LEVELS.join(", ")}, got ${JSON.stringify(env[LOG_LEVEL_ENV])}`;
    throw new ConfigError(message, { path: LOG_LEVEL_ENV });
  }
  return { logging: { level: raw } };
}

function isLogLevel(value: string): value is LogLevel {
  return (LOG_LEVELS as readonly string[]).includes(value);
}

/** The admin API's bearer token; takes precedence over `server.admin.tokenFile`. */
export const ADMIN_TOKEN_ENV = "RELEVANCE_GATEWAY_ADMIN_TOKEN";

/** The admin token from the environment, or undefined when unset or empty. */
export function readAdminTokenEnv(
  env: Readonly<Record<string, string | undefined>> = process.env,
): string | undefined {
  const token = env[ADMIN_TOKEN_ENV]?.trim();
  return token === undefined || token === "" ? undefined : token;
}

/**
 * The variable a config key names (a backend's `apiKeyEnv`), surrounding
 * whitespace trimmed; undefined when unset or empty.
 */
export function readNamedEnv(
  name: string,
  env: Readonly<Record<string, string | undefined>> = process.env,
): string | undefined {
  const value = env[name]?.trim();
  return value === undefined || value === "" ? undefined : value;
}
