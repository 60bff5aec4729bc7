/**
 * The shape of a subcommand's declaration in commands.ts: its arguments,
 * options, examples and how it runs.
 */

/** Parsed options by long name (`"metrics-port"`), as the implementations read them. */
export type Flags = Readonly<Record<string, string | string[] | boolean | undefined>>;

export interface OptionSpec {
  /** Commander flags: `"-c, --config <file>"`, `"--json"`. */
  readonly flags: string;
  readonly description: string;
  /** Shown as "(default: …)" in --help. */
  readonly default?: string;
  /** May be given more than once; the values are collected in order. */
  readonly repeatable?: boolean;
  /** Heading this option is listed under in --help (default "Options:"). */
  readonly group?: string;
}

export interface ArgumentSpec {
  /** `"<file>"`, `"<file...>"` (one or more), `"[kind]"` (optional). */
  readonly name: string;
  readonly description: string;
  readonly choices?: readonly string[];
}

export interface CommandSpec {
  readonly name: string;
  /** One line, in the list of commands. */
  readonly summary: string;
  /** More, at the top of the command's own --help. */
  readonly description?: string;
  readonly arguments?: readonly ArgumentSpec[];
  readonly options: readonly OptionSpec[];
  readonly examples: readonly string[];
  /** Printed after the examples in --help. */
  readonly notes?: string;
  /**
   * Flags that are refused before parsing, with the reason, even with a value attached
   * (`--flag=value`): `score --api-key` would put a secret in ps and the shell's history.
   */
  readonly refused?: Readonly<Record<string, string>>;
  /** `args` are the positional arguments, `flags` the options, `argv` what followed the command name. */
  readonly run: (args: readonly string[], flags: Flags, argv: readonly string[]) => Promise<void>;
}
