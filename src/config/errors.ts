/**
 * The one error type of configuration loading. The message is always a single
 * line, `<path>: <what is wrong>`, so it reads well in a crash log or a
 * `check-config` run; `issues` lists every problem found, the first of which
 * is the message.
 */
export class ConfigError extends Error {
  override readonly name = "ConfigError";
  /**
   * Where the operator has to look: a dotted key path with `[i]` for list
   * items (`backends.student.batching.maxBatchSize`), an environment variable
   * name, or "" when the problem is the file itself (unreadable, not YAML, empty).
   */
  readonly path: string;
  /** Every problem found, one line each, in file order where zod reports them so. */
  readonly issues: readonly string[];

  constructor(message: string, options: { path?: string; issues?: readonly string[]; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.path = options.path ?? "";
    this.issues = options.issues ?? [message];
  }
}

export function isConfigError(err: unknown): err is ConfigError {
  return err instanceof ConfigError;
}
