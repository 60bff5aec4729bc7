import { Writable } from "node:stream";
import { createLogger, type Logger } from "../../src/observability/logger.js";

export interface CapturedLogger {
  readonly logger: Logger;
  /** Everything written so far. */
  text(): string;
  /** The JSON lines written so far, parsed. */
  lines(): Record<string, unknown>[];
}

/** A logger at `level` writing to memory, as the gateway's logger writes to stdout. */
export function capturedLogger(level = "info"): CapturedLogger {
  const chunks: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      chunks.push(chunk.toString());
      done();
    },
  });
  const text = () => chunks.join("");
  return {
    logger: createLogger(level, sink),
    text,
    lines: () =>
      text()
        .split("\n")
        .filter(Boolean)
        .map((l) => JSON.parse(l) as Record<string, unknown>),
  };
}
