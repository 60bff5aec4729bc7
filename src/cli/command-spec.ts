/**
 * The shape of a subcommand's declaration in commands.ts: its arguments,
 * options, examples and how it runs; and how a declaration's defaults resolve.
 */

/** Parsed options by long name (`"metrics-port"`), as the implementations read them. */
export type Flags = Readonly<Record<string, string | string[] | boolean | undefined>>;

export interface OptionSpec {
  /** Commander flags: `"-c, --config <file>"`, `"--json"`. */
  readonly flags: string;
  readonly description: string;
  /**
   * The value used when the option is absent, as it would be typed (`"8002"`, `"0,2,5"`): the
   * parser fills it in, so the implementation sees it like a given value and checks it the same
   * way, and --help shows it as "(default: …)". It is the only place the value is written.
   */
  readonly default?: string;
  /**
   * A default that depends on an argument or a switch, instead of `default`: `on` names it
   * (`"<kind>"`, `"--quick"`) and `values` maps its value to the default (for a switch, its long
   * name when given, else the first entry). --help shows "(default: 8001; vllm 8000)": the first
   * entry, then the others by key.
   */
  readonly defaultBy?: DependentDefault;
  /** May be given more than once; the values are collected in order. */
  readonly repeatable?: boolean;
  /** Heading this option is listed under in --help (default "Options:"). */
  readonly group?: string;
}

export interface DependentDefault {
  readonly on: string;
  readonly values: Readonly<Record<string, string>>;
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

/** An option's long name: `"-c, --config <file>"` → `"config"`. */
export function longName(option: OptionSpec): string {
  const match = /--([\w-]+)/.exec(option.flags);
  if (match === null) throw new Error(`option ${JSON.stringify(option.flags)} has no long name`);
  return match[1]!;
}

/** The "(default: …)" text of a dependent default: the first value, then the others by key. */
export function describeDependentDefault(d: DependentDefault): string {
  return Object.entries(d.values)
    .map(([key, value], i) => (i === 0 ? value : `${key} ${value}`))
    .join("; ");
}

/** The value a dependent default takes for these arguments and options; undefined when none applies. */
export function dependentDefault(
  spec: CommandSpec,
  d: DependentDefault,
  args: readonly string[],
  flags: Flags,
): string | undefined {
  if (d.on.startsWith("--")) {
    const name = d.on.slice(2);
    return flags[name] === true ? d.values[name] : Object.values(d.values)[0];
  }
  const index = (spec.arguments ?? []).findIndex((a) => a.name === d.on);
  const value = index < 0 ? undefined : args[index];
  return value === undefined ? undefined : d.values[value];
}

/** `flags` with the dependent defaults (`defaultBy`) filled in where the option is absent. */
export function withDependentDefaults(spec: CommandSpec, args: readonly string[], flags: Flags): Flags {
  const filled: Record<string, Flags[string]> = { ...flags };
  for (const option of spec.options) {
    const name = longName(option);
    if (option.defaultBy === undefined || filled[name] !== undefined) continue;
    const value = dependentDefault(spec, option.defaultBy, args, flags);
    if (value !== undefined) filled[name] = value;
  }
  return filled;
}

/**
 * `flags` with every declared default filled in where the option is absent: what the parser
 * hands a command's `run`, for callers that run an implementation without the parser (`dev`
 * starts both simulators; tests).
 */
export function withDefaults(spec: CommandSpec, args: readonly string[], flags: Flags = {}): Flags {
  const filled: Record<string, Flags[string]> = { ...flags };
  for (const option of spec.options) {
    const name = longName(option);
    if (option.default !== undefined && filled[name] === undefined)
      filled[name] = option.repeatable ? [option.default] : option.default;
  }
  return withDependentDefaults(spec, args, filled);
}

/**
 * Parsed flags as a command's own options type (`TuneFlags`), whose defaulted options are not
 * optional: the parser and withDefaults fill every declared default in.
 */
export function flagsAs<T>(flags: Flags): T {
  return flags as unknown as T;
}
