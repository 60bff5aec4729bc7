import pino, { type Logger } from "pino";
import { capClientText, MAX_MESSAGE_CHARS } from "../util/client-text.js";

export type { Logger } from "pino";

/**
 * Keys whose values are credentials or key material wherever they appear:
 * HTTP and gRPC credentials (both spellings of `authorization`), the admin
 * token, API keys, passwords and TLS private keys.
 */
const SECRET_KEYS = [
  "authorization",
  "Authorization",
  "proxy-authorization",
  "cookie",
  "set-cookie",
  "x-api-key",
  "token",
  "adminToken",
  "apiKey",
  "api_key",
  "password",
  "passphrase",
  "secret",
  "privateKey",
  "key",
] as const;

/**
 * Where secrets may sit below the top level: headers and gRPC metadata as
 * plain objects (an incoming call's, an outgoing request's, an error's), and
 * TLS and auth options.
 */
const SECRET_CONTAINERS = [
  "headers",
  "metadata",
  "req.headers",
  "res.headers",
  "request.headers",
  "options.headers",
  "err.metadata",
  "err.headers",
  "tls",
  "auth",
] as const;

function pathTo(key: string): string {
  return /^[A-Za-z_$][\w$]*$/.test(key) ? key : `["${key}"]`;
}

/**
 * The redaction paths. Explicit paths cost about nothing per line; each
 * wildcard path costs about as much as writing the line, so wildcards are kept
 * for the three keys most likely to turn up in an unforeseen object.
 */
export const REDACT_PATHS: readonly string[] = [
  ...SECRET_KEYS.map(pathTo),
  ...SECRET_CONTAINERS.flatMap((container) => SECRET_KEYS.map((key) => `${container}.${pathTo(key)}`)),
  "*.authorization",
  "*.token",
  "*.apiKey",
];

/** What a redacted value is replaced with. */
export const REDACTED = "[redacted]";

/** Longest stack written: the message it starts with, and a dozen frames. */
const MAX_STACK_CHARS = 2048;

/**
 * pino's error serializer with the message and the stack (which repeats the
 * message, and those of its causes) bounded: a backend's error may quote a
 * client's document, and one such line must not run to megabytes.
 */
function boundedError(value: unknown): unknown {
  const serialized = pino.stdSerializers.err(value as Error) as unknown;
  if (!(value instanceof Error) || typeof serialized !== "object" || serialized === null) return serialized;
  const e = serialized as { message?: unknown; stack?: unknown };
  if (typeof e.message === "string") e.message = capClientText(e.message, MAX_MESSAGE_CHARS);
  if (typeof e.stack === "string") e.stack = capClientText(e.stack, MAX_STACK_CHARS);
  return e;
}

/**
 * The root logger: JSON lines on stdout. Query and document text are never
 * logged at info level or above; secrets are redacted wherever they appear
 * (REDACT_PATHS).
 */
export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: "relevance-gateway" },
      redact: { paths: [...REDACT_PATHS], censor: REDACTED },
      serializers: { err: boundedError },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    destination,
  );
}

/** A logger that drops everything (tests, library use). */
export function silentLogger(): Logger {
  return pino({ level: "silent" });
}
