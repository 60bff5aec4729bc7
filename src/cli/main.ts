import { Argument, Command, type CommanderError, Option } from "commander";
import { isConfigError } from "../config/index.js";
import { VERSION } from "../version.js";
import type { CommandSpec, Flags } from "./command-spec.js";
import { COMMANDS, EXIT_CODES } from "./commands.js";
import { CliError } from "./fail.js";

/**
 * The `relevance-gateway` command line: commander commands built from the table in commands.ts.
 * Exit codes: 0 ok (help and --version included), 1 runtime error, 2 usage or configuration error.
 */
const NAME = "relevance-gateway";

/** Help or --version was printed: exit 0 without a message. */
class Printed extends Error {}

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

function addCommand(program: Command, spec: CommandSpec, argv: readonly string[]): void {
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
      o.default === undefined ? o.description : `${o.description} (default: ${o.default})`,
    );
    if (o.repeatable) option.argParser((value: string, previous?: string[]) => [...(previous ?? []), value]);
    if (o.group !== undefined) option.helpGroup(o.group);
    cmd.addOption(option);
  }
  cmd.action(async (...actionArgs: unknown[]) => {
    const command = actionArgs.at(-1) as Command;
    // By long name ("metrics-port"), as the implementations read them; absent options stay absent.
    const flags: Record<string, Flags[string]> = {};
    for (const option of command.options) {
      const value = command.getOptionValue(option.attributeName()) as Flags[string];
      if (value !== undefined) flags[option.name()] = value;
    }
    await spec.run(command.args, flags, argv.slice(1));
  });
}

function buildProgram(argv: readonly string[]): Command {
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
  for (const spec of COMMANDS) addCommand(program, spec, argv);
  return program;
}

function unknownCommand(name: string): CliError {
  return new CliError(`unknown command ${JSON.stringify(name)}; run ${NAME} --help`);
}

async function main(argv: string[]): Promise<void> {
  const program = buildProgram(argv);
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

// A reader that stopped early (`relevance-gateway bench --help | head -1`) is not a failure: the
// output is simply not wanted any more.
process.stdout.on("error", (err: NodeJS.ErrnoException) => {
  if (err.code === "EPIPE") process.exit(process.exitCode ?? 0);
  throw err;
});

main(process.argv.slice(2)).catch((err: unknown) => {
  if (err instanceof Printed) return;
  if (err instanceof CliError || isConfigError(err)) {
    process.stderr.write(`${NAME}: ${(err as Error).message}\n`);
    process.exitCode = err instanceof CliError ? err.exitCode : 2;
    return;
  }
  process.stderr.write(`${NAME}: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});
