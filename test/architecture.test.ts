import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import t from "tap";

/**
 * The dependency rules of src/ (STYLE): requests flow api → routing →
 * batching → backends; config reaches the request path only through the
 * composition root; serving code imports no tool code (src/tools/); no
 * import cycles; process.env is read in one place.
 */
const SRC = resolve(new URL("../src", import.meta.url).pathname);

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sourceFiles(join(dir, e.name)) : e.name.endsWith(".ts") ? [join(dir, e.name)] : [],
  );
}

const files = sourceFiles(SRC).map((f) => relative(SRC, f));
const imports = new Map<string, string[]>();
/** Without `import type`: what is loaded when the module is. */
const runtimeImports = new Map<string, string[]>();
for (const file of files) {
  const text = readFileSync(join(SRC, file), "utf8");
  const found = [...text.matchAll(/^(?:import|export)( type )?[^"']*?from\s+["'](\.[^"']+)["']/gm)];
  const target = (m: RegExpMatchArray) =>
    relative(SRC, resolve(SRC, dirname(file), m[2]!)).replace(/\.js$/, ".ts");
  imports.set(file, found.map(target));
  runtimeImports.set(file, found.filter((m) => m[1] === undefined).map(target));
}

const top = (f: string) => (f.includes("/") ? f.slice(0, f.indexOf("/")) : f);

t.test("the import graph was read", (t) => {
  t.ok(files.length > 30);
  t.ok((imports.get("gateway/lane.ts") ?? []).includes("batching/batcher.ts"));
  t.end();
});

t.test("layers only import downstream", (t) => {
  const forbidden: Record<string, string[]> = {
    batching: ["api", "routing", "pipeline.ts", "gateway.ts", "gateway", "cli", "admin", "config"],
    backends: ["api", "routing", "batching", "pipeline.ts", "gateway.ts", "gateway", "cli", "admin"],
    routing: [
      "api",
      "batching",
      "backends",
      "pipeline.ts",
      "gateway.ts",
      "gateway",
      "cli",
      "admin",
      "config",
    ],
    "model-text": [
      "api",
      "routing",
      "batching",
      "backends",
      "pipeline.ts",
      "gateway.ts",
      "gateway",
      "cli",
      "config",
    ],
    codec: [
      "api",
      "routing",
      "batching",
      "backends",
      "pipeline.ts",
      "gateway.ts",
      "gateway",
      "cli",
      "config",
    ],
    util: [
      "api",
      "routing",
      "batching",
      "backends",
      "pipeline.ts",
      "gateway.ts",
      "gateway",
      "cli",
      "config",
      "tools",
    ],
    // The score cache sits between the pipeline and a batcher: it knows batching's and backends'
    // types, never the request's transport, the routing, the config or the tools.
    cache: [
      "api",
      "routing",
      "pipeline.ts",
      "gateway.ts",
      "gateway",
      "cli",
      "admin",
      "config",
      "tools",
      "shadow",
      "security",
    ],
    observability: [
      "api",
      "routing",
      "backends",
      "pipeline.ts",
      "gateway.ts",
      "gateway",
      "cli",
      "config",
      "tools",
    ],
  };
  const violations: string[] = [];
  for (const [file, targets] of imports) {
    for (const target of targets) {
      if (forbidden[top(file)]?.includes(top(target))) violations.push(`${file} → ${target}`);
    }
  }
  t.same(violations, []);
  t.end();
});

t.test("config is read only by the composition root, the backend factory and the CLI", (t) => {
  // The composition root (compose), the one config → lane mapping (lane) and the control plane
  // (control); the lifecycle receives what was built and reads no config.
  const allowed = (f: string) =>
    f === "gateway/compose.ts" ||
    f === "gateway/lane.ts" ||
    f === "gateway/control.ts" ||
    f === "backends/create-backend.ts" ||
    top(f) === "cli" ||
    top(f) === "config" ||
    // The micro-benchmarks build a gateway from a config, as the CLI does; they are scripts, not built.
    f.startsWith("tools/bench/micro/");
  const violations = [...imports].flatMap(([file, targets]) =>
    targets.filter((x) => top(x) === "config" && !allowed(file)).map((x) => `${file} → ${x}`),
  );
  t.same(violations, []);
  t.end();
});

/** The CLI's subcommands that run tools; main.ts loads each with import() when it runs. */
const TOOL_COMMANDS = ["cli/sim.ts", "cli/tune.ts", "cli/bench.ts", "cli/dev.ts", "cli/shadow-report.ts"];
const isServing = (f: string) => top(f) !== "tools" && !TOOL_COMMANDS.includes(f);

t.test("serving code imports no tool code", (t) => {
  t.ok(files.some((f) => top(f) === "tools") && files.some(isServing), "both trees were read");
  const violations = [...imports].flatMap(([file, targets]) =>
    isServing(file) ? targets.filter((x) => top(x) === "tools").map((x) => `${file} → ${x}`) : [],
  );
  t.same(violations, []);
  t.end();
});

t.test("serving code loads no tool subcommand statically (only import() or types)", (t) => {
  t.ok((imports.get("cli/sim-command.ts") ?? []).includes("cli/sim.ts"), "type imports were read");
  const violations = [...runtimeImports].flatMap(([file, targets]) =>
    isServing(file) ? targets.filter((x) => TOOL_COMMANDS.includes(x)).map((x) => `${file} → ${x}`) : [],
  );
  t.same(violations, []);
  t.end();
});

t.test("no import cycles", (t) => {
  const cycles: string[] = [];
  const state = new Map<string, "visiting" | "done">();
  const stack: string[] = [];
  const visit = (f: string) => {
    if (state.get(f) === "done") return;
    if (state.get(f) === "visiting") {
      cycles.push([...stack.slice(stack.indexOf(f)), f].join(" → "));
      return;
    }
    state.set(f, "visiting");
    stack.push(f);
    for (const x of imports.get(f) ?? []) visit(x);
    stack.pop();
    state.set(f, "done");
  };
  for (const f of imports.keys()) visit(f);
  t.same(cycles, []);
  t.end();
});

t.test("process.env is read only in config/env.ts", (t) => {
  // The micro-benchmarks are scripts run from source (not built) and take their knobs from the environment.
  const readers = files.filter(
    (f) =>
      f !== "config/env.ts" &&
      !f.startsWith("tools/bench/micro/") &&
      readFileSync(join(SRC, f), "utf8").includes("process.env"),
  );
  t.same(readers, []);
  t.end();
});

t.test("backend kinds share one layout: the same file names for the same roles", (t) => {
  // client (the backend), endpoint (one server), transport (the connection), codec (batch ↔ wire),
  // errors (the server's failures → GatewayError), readiness (the probe), target (endpoint strings),
  // defaults (shared by the config schema and the client). A kind may add files of its own.
  const roles = ["client", "codec", "defaults", "endpoint", "errors", "readiness", "target", "transport"];
  for (const kind of ["triton", "vllm"]) {
    const names = new Set(
      files.filter((f) => dirname(f) === `backends/${kind}`).map((f) => f.slice(f.lastIndexOf("/") + 1, -3)),
    );
    t.same(
      roles.filter((r) => !names.has(r)),
      [],
      `backends/${kind}/ has every role's file`,
    );
    const tests = new Set(
      readdirSync(resolve(SRC, `../test/backends/${kind}`)).map((f) => f.replace(/\.test\.ts$/, "")),
    );
    t.same(
      ["client", "codec", "errors", "target", "discovery", "tls"].filter((n) => !tests.has(n)),
      [],
      `test/backends/${kind}/ mirrors it: the same test file names for the same roles`,
    );
  }
  t.end();
});

t.test(
  "batching, the vLLM client and util name no gRPC library (codes come from the error catalogue)",
  (t) => {
    const grpcFree = (f: string) =>
      f.startsWith("batching/") || f.startsWith("backends/vllm/") || f.startsWith("util/");
    const violations = files.filter(
      (f) => grpcFree(f) && /from\s+["']@grpc\/grpc-js["']/.test(readFileSync(join(SRC, f), "utf8")),
    );
    t.ok(files.some(grpcFree), "the rule covers some files");
    t.same(violations, []);
    t.end();
  },
);

t.test("no source file is over 400 lines: a part that grows past it is split", (t) => {
  const long = files
    .map((f) => ({ f, lines: readFileSync(join(SRC, f), "utf8").split("\n").length - 1 }))
    .filter(({ lines }) => lines > 400)
    .map(({ f, lines }) => `${f}: ${lines}`);
  t.ok(files.length > 30, "the files were read");
  t.same(long, []);
  t.end();
});
