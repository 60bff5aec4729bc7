import pino, { type Logger } from "pino";

export type { Logger } from "pino";

/**
 * The root logger: JSON lines on stdout. Query and document text are never
 * logged at info level or above; secrets are redacted wherever they appear.
 */
export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: "relevance-gateway" },
      redact: {
        paths: [
          "authorization",
          "*.authorization",
          "headers.authorization",
          "token",
          "*.token",
          "apiKey",
          "*.apiKey",
        ],
        censor: "[redacted]",
      },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    destination,
  );
}

/** A logger that drops everything (tests, library use). */
export function silentLogger(): Logger {
  return pino({ level: "silent" });
}
