import { Argument, Command, type CommanderError, Option } from "commander";
import { VERSION } from "../version.js";
import {
  type CommandSpec,
  describeDependentDefault,
  type Flags,
  withDependentDefaults,
} from "./command-spec.js";
import { COMMANDS, EXIT_CODES } from "./commands.js";
import { CliError } from "./fail.js";

/**
 * The `relevance-gateway` command line: commander commands built from the table in commands.ts.
 * Exit codes: 0 ok (help and --version included), 1 runtime error, 2 usage or configuration error.
 */
export const NAME = "relevance-gateway";

/** Help or --version was printed: exit 0 without a message. */
export class Printed extends Error {}

/**
 * What runs a parsed command: its `run` with the positional arguments, the options with their
 * defaults filled in, and what followed the command name. Replaceable so tests can see what the
 * parser hands a command without running it.
 */
export type Runner = (
  spec: CommandSpec,
  args: readonly string[],
  flags: Flags,
  argv: readonly string[],
) => Promise<void>;

const runSpec: Runner = (spec, args, flags, argv) => spec.run(args, flags, argv);

/** Commander's errors become one-line CliErrors (exit 2) naming the command; its own printing is off. */
function onCommanderExit(err: CommanderError, command?: string): never {
  if (err.exitCode === 0) throw new Printed();
  const message = err.message.replace(/^error: /, "");
  throw new CliError(command === undefined ? message : `${command}: ${message}`, 2);
}

function helpText(spec: CommandSpec): string {
  const lines = ["", "Examples:", ...spec.examples.map((e) => `  ${e}`)];
  if (spec.notes !== undefined) lines.push("", spec.notes);
  return `${lines.join("\n")}\n`;
}

function addCommand(program: Command, spec: CommandSpec, argv: readonly string[], run: Runner): void {
  const cmd = program
    .command(spec.name)
    .summary(spec.summary)
    .description(spec.description ?? spec.summary)
    .exitOverride((err) => onCommanderExit(err, spec.name))
    .addHelpText("after", helpText(spec));
  for (const a of spec.arguments ?? []) {
    const argument = new Argument(a.name, a.description);
    if (a.choices !== undefined) argument.choices(a.choices);
    cmd.addArgument(argument);
  }
  for (const o of spec.options) {
    const option = new Option(
      o.flags,
      o.defaultBy === undefined
        ? o.description
        : `${o.description} (default: ${describeDependentDefault(o.defaultBy)})`,
    );
    // Commander shows the default in --help and fills it in when the option is absent.
    const fallback = o.default === undefined ? undefined : o.repeatable ? [o.default] : o.default;
    if (fallback !== undefined) option.default(fallback, o.default);
    if (o.repeatable) {
      // The first value given replaces the default rather than adding to it.
      option.argParser((value: string, previous?: string[]) =>
        previous === undefined || previous === fallback ? [value] : [...previous, value],
      );
    }
    if (o.group !== undefined) option.helpGroup(o.group);
    cmd.addOption(option);
  }
  cmd.action(async (...actionArgs: unknown[]) => {
    const command = actionArgs.at(-1) as Command;
    // By long name ("metrics-port"), as the implementations read them; absent options without a default stay absent.
    const flags: Record<string, Flags[string]> = {};
    for (const option of command.options) {
      const value = command.getOptionValue(option.attributeName()) as Flags[string];
      if (value !== undefined) flags[option.name()] = value;
    }
    // Defaults that depend on an argument or another option, which commander cannot express.
    await run(spec, command.args, withDependentDefaults(spec, command.args, flags), argv.slice(1));
  });
}

function buildProgram(argv: readonly string[], run: Runner): Command {
  const program = new Command(NAME)
    .description("Scores query-document relevance on Triton (student) and vLLM (teacher).")
    .version(VERSION, "-V, --version", "print the version")
    .helpOption("-h, --help", "print the help")
    .helpCommand("help [command]", "print the help of a command")
    .configureHelp({ sortSubcommands: false, sortOptions: false })
    .configureOutput({ outputError: () => {} })
    .showSuggestionAfterError(true)
    .exitOverride((err) => onCommanderExit(err))
    .addHelpText(
      "after",
      `\nRun '${NAME} help <command>' or '${NAME} <command> --help' for a command's options and examples.\n` +
        `${EXIT_CODES}\n`,
    );
  for (const spec of COMMANDS) addCommand(program, spec, argv, run);
  return program;
}

/** A subcommand's --help text (without the examples and notes printed after it). */
export function commandHelp(name: string): string {
  const command = buildProgram([], runSpec).commands.find((c) => c.name() === name);
  if (command === undefined) throw new Error(`no command ${name}`);
  return command.helpInformation();
}

function unknownCommand(name: string): CliError {
  return new CliError(`unknown command ${JSON.stringify(name)}; run ${NAME} --help`);
}

/**
 * Parses `argv` (what followed the executable's name) and runs the command it names with `run`.
 * Usage errors reject with a CliError (exit 2); printed help or version with Printed.
 */
export async function runCommandLine(argv: readonly string[], run: Runner = runSpec): Promise<void> {
  const program = buildProgram(argv, run);
  const [first, ...rest] = argv;
  if (first === undefined) {
    program.outputHelp();
    return;
  }
  const known = (name: string) => COMMANDS.some((c) => c.name === name);
  if (!first.startsWith("-") && first !== "help" && !known(first)) throw unknownCommand(first);
  if (first === "help" && rest[0] !== undefined && !known(rest[0])) throw unknownCommand(rest[0]);
  // Refused before parsing, so the message is the reason and not "unknown option", and a value is never echoed.
  const spec = COMMANDS.find((c) => c.name === first);
  for (const [flag, reason] of Object.entries(spec?.refused ?? {})) {
    if (rest.some((arg) => arg === flag || arg.startsWith(`${flag}=`))) throw new CliError(reason);
  }
  await program.parseAsync(argv, { from: "user" });
}
