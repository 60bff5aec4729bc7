/**
 * A secret kept in a file (a mounted Kubernetes Secret), read at start and
 * re-read when the file changes, so a rotated key applies without a restart.
 * The file is looked at (one stat) at most once per `checkIntervalMs`, on
 * use; a changed file that cannot be used is logged once and the last good
 * value stays. The value itself is never logged.
 */
import { readFileSync, statSync } from "node:fs";
import type { Logger } from "pino";
import type { Clock } from "../util/clock.js";

/** A credential file that cannot be used; `path` is its config key, which the message starts with. */
export class CredentialFileError extends Error {
  override readonly name = "CredentialFileError";
  constructor(
    readonly path: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`${path}: ${message}`, options);
  }
}

export interface SecretFileOptions {
  readonly file: string;
  /** The config key that names the file, e.g. "backends.teacher.apiKeyFile". */
  readonly configPath: string;
  readonly clock: Clock;
  readonly logger: Logger;
  /** Default 1000. */
  readonly checkIntervalMs?: number;
}

/** An HTTP header value without spaces: what a bearer token can be. */
const TOKEN = /^[\x21-\x7e]+$/;

/**
 * Reads the secret (surrounding whitespace trimmed) and returns its getter.
 * Throws CredentialFileError when the file cannot be read, is empty, or holds
 * characters a bearer token cannot carry.
 */
export function createSecretFile(opts: SecretFileOptions): () => string {
  const checkIntervalMs = opts.checkIntervalMs ?? 1000;
  let version = versionOrUndefined(opts.file);
  let value = readSecret(opts.file, opts.configPath);
  let checkedAt = opts.clock.now();
  let lastError: string | undefined;
  return function secret(): string {
    const now = opts.clock.now();
    if (now - checkedAt < checkIntervalMs) return value;
    checkedAt = now;
    try {
      const current = fileVersion(opts.file);
      if (current === version) return value;
      value = readSecret(opts.file, opts.configPath);
      version = current;
      lastError = undefined;
      opts.logger.info({ file: opts.file, key: opts.configPath }, "secret file changed: using the new value");
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      if (message !== lastError) {
        lastError = message;
        opts.logger.warn(
          { key: opts.configPath },
          `secret file not reloaded, the last value stays: ${message}`,
        );
      }
    }
    return value;
  };
}

function versionOrUndefined(file: string): string | undefined {
  try {
    return fileVersion(file);
  } catch {
    return undefined; // the read that follows reports the problem
  }
}

/** What changes when a file is rewritten or a Secret's symlink is swapped. */
function fileVersion(file: string): string {
  const s = statSync(file);
  return `${s.ino}:${s.size}:${s.mtimeMs}`;
}

function readSecret(file: string, configPath: string): string {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    throw new CredentialFileError(configPath, `cannot read ${file}: ${reason}`, { cause: err });
  }
  const secret = text.trim();
  if (secret === "") throw new CredentialFileError(configPath, `${file} is empty`);
  if (!TOKEN.test(secret)) {
    throw new CredentialFileError(
      configPath,
      `${file} must hold one token of printable ASCII characters without spaces`,
    );
  }
  return secret;
}
