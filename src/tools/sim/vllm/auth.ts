/**
 * vLLM's `--api-key` check (its AuthenticationMiddleware): requests to paths
 * under /v1 need `Authorization: Bearer <key>`, the scheme in any case, the
 * key compared by SHA-256 digest in constant time; other paths (/health,
 * /classify, /metrics…) and OPTIONS requests pass. A refused request gets
 * 401 with the body `{"error":"Unauthorized"}`.
 */
import { createHash, timingSafeEqual } from "node:crypto";
import type { IncomingMessage } from "node:http";

export const UNAUTHORIZED_BODY = { error: "Unauthorized" } as const;

/** Whether `req` may proceed; always true without a key. */
export function createApiKeyCheck(
  apiKey: string | undefined,
): (req: IncomingMessage, path: string) => boolean {
  if (apiKey === undefined) return () => true;
  const expected = digest(apiKey);
  return function apiKeyCheck(req, path) {
    if (req.method === "OPTIONS" || !path.startsWith("/v1")) return true;
    const header = req.headers.authorization;
    if (header === undefined) return false;
    const space = header.indexOf(" ");
    const scheme = space < 0 ? header : header.slice(0, space);
    if (scheme.toLowerCase() !== "bearer") return false;
    return timingSafeEqual(digest(space < 0 ? "" : header.slice(space + 1)), expected);
  };
}

function digest(text: string): Buffer {
  return createHash("sha256").update(text, "utf8").digest();
}
