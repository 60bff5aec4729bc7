/** An error the CLI reports as one line, without a stack trace, and exits with `exitCode`. */
export class CliError extends Error {
  override readonly name = "CliError";
  readonly exitCode: number;
  constructor(message: string, exitCode = 2) {
    super(message);
    this.exitCode = exitCode;
  }
}

/** An option's value as a non-negative integer; a default arrives like a given value (commands.ts). */
export function intOption(name: string, value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0)
    throw new CliError(`--${name}: expected a non-negative integer, got ${JSON.stringify(value)}`);
  return n;
}

export function numberOption(name: string, value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0)
    throw new CliError(`--${name}: expected a non-negative number, got ${JSON.stringify(value)}`);
  return n;
}
