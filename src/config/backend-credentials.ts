import type { Logger } from "pino";
import { isBearerToken } from "../security/api-key.js";
import { CredentialFileError, createSecretFile } from "../security/secret-file.js";
import { readTlsMaterial, type TlsMaterial } from "../security/tls-material.js";
import type { Clock } from "../util/clock.js";
import { readNamedEnv } from "./env.js";
import { ConfigError } from "./errors.js";

/**
 * What a backend connects with, besides its endpoints: TLS files (read and
 * checked here, when the backend is built) and vLLM's API key. Problems are
 * ConfigErrors naming the key, so a missing Secret fails the start with
 * `backends.teacher.apiKeyFile: cannot read …`, not the first call.
 */

/** The TLS files of `backends.<name>.tls`, or undefined when the block is null. */
export function readBackendTls(
  name: string,
  tls: {
    readonly caFile: string | null;
    readonly certFile?: string | null;
    readonly keyFile?: string | null;
  } | null,
): TlsMaterial | undefined {
  if (tls === null) return undefined;
  return asConfigError(() => readTlsMaterial({ configPath: `backends.${name}.tls`, ...tls }));
}

export interface ApiKeySource {
  readonly apiKeyEnv: string | null;
  readonly apiKeyFile: string | null;
}

/**
 * The getter of a vLLM backend's API key, or undefined when none is
 * configured. From `apiKeyEnv`: read once (the environment does not change).
 * From `apiKeyFile`: re-read when the file changes (security/secret-file.ts).
 */
export function backendApiKey(
  name: string,
  source: ApiKeySource,
  env: {
    readonly clock: Clock;
    readonly logger: Logger;
    readonly readEnv?: (name: string) => string | undefined;
  },
): (() => string) | undefined {
  if (source.apiKeyEnv !== null) {
    const path = `backends.${name}.apiKeyEnv`;
    const key = (env.readEnv ?? readNamedEnv)(source.apiKeyEnv);
    if (key === undefined) {
      throw new ConfigError(`${path}: the environment variable ${source.apiKeyEnv} is not set`, { path });
    }
    if (!isBearerToken(key)) {
      throw new ConfigError(
        `${path}: the value of ${source.apiKeyEnv} must be one token of printable ASCII characters without spaces`,
        { path },
      );
    }
    return () => key;
  }
  if (source.apiKeyFile !== null) {
    const file = source.apiKeyFile;
    return asConfigError(() =>
      createSecretFile({
        file,
        configPath: `backends.${name}.apiKeyFile`,
        clock: env.clock,
        logger: env.logger,
      }),
    );
  }
  return undefined;
}

function asConfigError<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof CredentialFileError)
      throw new ConfigError(err.message, { path: err.path, cause: err });
    throw err;
  }
}
