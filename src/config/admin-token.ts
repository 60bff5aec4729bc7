import { readFileSync } from "node:fs";
import { readAdminTokenEnv } from "./env.js";
import { ConfigError } from "./errors.js";

/** Shorter tokens are refused: the admin API changes how the gateway batches and routes. */
export const MIN_ADMIN_TOKEN_LENGTH = 16;

/**
 * The admin API's token: the environment variable, else the contents of
 * `server.admin.tokenFile` (surrounding whitespace trimmed), else undefined —
 * admin writes disabled. Read at each write, so a rotated Secret applies
 * without a restart. Throws ConfigError naming the source when the file cannot
 * be read or the token is too short.
 */
export function resolveAdminToken(
  tokenFile: string | null,
  fromEnv: string | undefined = readAdminTokenEnv(),
): string | undefined {
  if (fromEnv !== undefined) return checkLength(fromEnv, "RELEVANCE_GATEWAY_ADMIN_TOKEN");
  if (tokenFile === null) return undefined;
  let text: string;
  try {
    text = readFileSync(tokenFile, "utf8");
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    throw new ConfigError(`server.admin.tokenFile: cannot read ${tokenFile}: ${reason}`, {
      path: "server.admin.tokenFile",
      cause: err,
    });
  }
  return checkLength(text.trim(), "server.admin.tokenFile");
}

function checkLength(token: string, source: string): string {
  if (token.length < MIN_ADMIN_TOKEN_LENGTH) {
    throw new ConfigError(
      `${source}: the admin token must be at least ${MIN_ADMIN_TOKEN_LENGTH} characters (got ${token.length})`,
      { path: source },
    );
  }
  return token;
}
