import { createHash, timingSafeEqual } from "node:crypto";
import { readFileSync } from "node:fs";

/**
 * API keys: parsed from `authorization: Bearer <key>` metadata, hashed with
 * SHA-256 and compared with every accepted digest in constant time. The
 * gateway never holds a configured key in the clear (the config carries
 * digests); only keys read from secret files are, briefly, to hash them.
 */

/** The SHA-256 digest of a key's UTF-8 bytes. */
export function sha256(key: string): Buffer {
  return createHash("sha256").update(key, "utf8").digest();
}

/** The hex digest that `auth.clients[].apiKeySha256` holds (what `sha256sum` prints for the key without a newline). */
export function sha256Hex(key: string): string {
  return sha256(key).toString("hex");
}

export type BearerParse = { readonly ok: true; readonly key: string } | { readonly ok: false };

const BEARER = /^Bearer +([\x21-\x7e]+) *$/i;

/**
 * The key of the one `authorization` value, if it has the form
 * `Bearer <key>` (scheme case-insensitive, RFC 6750); several values or
 * any other form are malformed.
 */
export function parseBearer(values: readonly unknown[]): BearerParse {
  if (values.length !== 1) return { ok: false };
  const value = values[0];
  if (typeof value !== "string") return { ok: false };
  const m = BEARER.exec(value);
  return m ? { ok: true, key: m[1]! } : { ok: false };
}

/**
 * Finds whose key a presented key is. Every digest is compared, whatever
 * matched, so the time taken tells nothing about which digests exist or how
 * close a guess came.
 */
export class KeyIndex<T> {
  readonly #digests: readonly Buffer[];
  readonly #owners: readonly T[];

  constructor(entries: readonly { readonly digest: Buffer; readonly owner: T }[]) {
    this.#digests = entries.map((e) => e.digest);
    this.#owners = entries.map((e) => e.owner);
  }

  get size(): number {
    return this.#digests.length;
  }

  find(key: string): T | undefined {
    const digest = sha256(key);
    let found = -1;
    for (let i = 0; i < this.#digests.length; i++) {
      if (timingSafeEqual(digest, this.#digests[i]!) && found < 0) found = i;
    }
    return found < 0 ? undefined : this.#owners[found];
  }
}

/** A key from a secret file, surrounding whitespace trimmed; throws naming `field` when unreadable, empty or not one token. */
export function readKeyFile(path: string, field: string): string {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    throw new Error(`${field}: cannot read ${path}: ${reason}`, { cause: err });
  }
  const key = text.trim();
  if (key === "") throw new Error(`${field}: ${path} is empty`);
  // A bearer token is one word of printable ASCII: a key with a space or a
  // second line could never be sent in `authorization: Bearer <key>`.
  if (!isBearerToken(key)) {
    throw new Error(`${field}: ${path} must hold one key of printable ASCII characters without spaces`);
  }
  return key;
}

const BEARER_TOKEN = /^[\x21-\x7e]+$/;

/** Whether `key` can be sent as `authorization: Bearer <key>`: one word of printable ASCII. */
export function isBearerToken(key: string): boolean {
  return BEARER_TOKEN.test(key);
}
