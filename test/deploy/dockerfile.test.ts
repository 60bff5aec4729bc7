// Acceptance (issue 7, "Image"): the Dockerfile, read by a small parser of the instructions it uses
// (no Docker engine runs here), is a multi-stage node:24-slim build whose runtime stage has production
// dependencies only, the compiled gateway, a non-root user, NODE_ENV=production, exec-form
// ENTRYPOINT/CMD (SIGTERM reaches node directly) and both ports; .dockerignore lets in exactly what
// the build copies. Each check is shown to fail on a broken Dockerfile.
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import t from "tap";
import { parse } from "yaml";
import { readYamlDocuments, repoPath } from "./deploy-helpers.js";

// ───────────────────────── a Dockerfile reader (the instructions and forms this repository uses)

interface Instruction {
  readonly keyword: string;
  readonly args: string;
  readonly line: number;
}

interface Stage {
  readonly index: number;
  readonly name: string | undefined;
  readonly image: string;
  readonly instructions: Instruction[];
}

/** Splits a Dockerfile into stages of instructions: comments dropped, `\` continuations joined, global ARGs substituted in FROM. */
function parseDockerfile(text: string): Stage[] {
  const lines = text.split("\n");
  const instructions: Instruction[] = [];
  let pending: { args: string; line: number } | undefined;
  lines.forEach((raw, i) => {
    const line = raw.replace(/\r$/, "");
    if (/^\s*#/.test(line)) {
      if (/^\s*#\s*escape\s*=/.test(line) && instructions.length === 0)
        throw new Error("escape directive not supported");
      return;
    }
    if (pending === undefined && line.trim() === "") return;
    const continued = /\\\s*$/.test(line);
    const body = continued ? line.replace(/\\\s*$/, "") : line;
    pending =
      pending === undefined
        ? { args: body.trim(), line: i + 1 }
        : { ...pending, args: `${pending.args} ${body.trim()}` };
    if (!continued) {
      const m = /^(\S+)\s*(.*)$/.exec(pending.args);
      if (m === null) throw new Error(`line ${pending.line}: cannot read "${pending.args}"`);
      instructions.push({ keyword: m[1]!.toUpperCase(), args: m[2]!.trim(), line: pending.line });
      pending = undefined;
    }
  });
  if (pending !== undefined)
    throw new Error(`line ${pending.line}: the file ends inside a continued instruction`);

  const globalArgs = new Map<string, string>();
  const stages: Stage[] = [];
  for (const ins of instructions) {
    if (ins.keyword === "FROM") {
      const words = ins.args.split(/\s+/).filter((w) => !w.startsWith("--"));
      const image = (words[0] ?? "").replace(/\$\{?(\w+)\}?/g, (_, name: string) => {
        const value = globalArgs.get(name);
        if (value === undefined)
          throw new Error(`line ${ins.line}: FROM uses \${${name}}, which no ARG before it defines`);
        return value;
      });
      const name = words[1]?.toUpperCase() === "AS" ? words[2] : undefined;
      stages.push({ index: stages.length, name, image, instructions: [] });
    } else if (stages.length === 0) {
      if (ins.keyword !== "ARG") throw new Error(`line ${ins.line}: ${ins.keyword} before the first FROM`);
      const m = /^(\w+)(?:=(.*))?$/.exec(ins.args);
      if (m) globalArgs.set(m[1]!, (m[2] ?? "").replace(/^"(.*)"$/, "$1"));
    } else {
      stages[stages.length - 1]!.instructions.push(ins);
    }
  }
  return stages;
}

/** The JSON array of an exec-form instruction, or undefined for the shell form. */
function execForm(args: string): string[] | undefined {
  if (!args.startsWith("[")) return undefined;
  const parsed: unknown = JSON.parse(args);
  if (!Array.isArray(parsed) || !parsed.every((x) => typeof x === "string"))
    throw new Error(`not a JSON string array: ${args}`);
  return parsed;
}

interface Copy {
  readonly from: string | undefined;
  readonly sources: readonly string[];
  readonly dest: string;
  readonly line: number;
}

function copies(stage: Stage): Copy[] {
  return stage.instructions
    .filter((i) => i.keyword === "COPY" || i.keyword === "ADD")
    .map((i) => {
      const words = execForm(i.args) ?? i.args.split(/\s+/);
      const flags = words.filter((w) => w.startsWith("--"));
      const paths = words.filter((w) => !w.startsWith("--"));
      const from = flags.find((f) => f.startsWith("--from="))?.slice("--from=".length);
      return { from, sources: paths.slice(0, -1), dest: paths[paths.length - 1] ?? "", line: i.line };
    });
}

function runs(stage: Stage): string[] {
  return stage.instructions.filter((i) => i.keyword === "RUN").map((i) => i.args);
}

const isNpmCi = (cmd: string) => /\bnpm ci\b/.test(cmd);
const isProdNpmCi = (cmd: string) => isNpmCi(cmd) && /--omit=dev\b/.test(cmd);

// ───────────────────────── the checks

const NODE_IMAGE = "node:24-slim";

/** What is wrong with a Dockerfile for this gateway; empty when nothing is. */
function dockerfileProblems(text: string): string[] {
  const problems: string[] = [];
  const stages = parseDockerfile(text);
  const byName = (name: string | undefined) =>
    stages.find((s) => s.name === name || String(s.index) === name);
  if (stages.length < 2) problems.push(`expected a multi-stage build, found ${stages.length} stage(s)`);
  for (const s of stages) {
    if (s.image !== NODE_IMAGE && byName(s.image) === undefined)
      problems.push(`stage ${s.name ?? s.index}: FROM ${s.image}, expected ${NODE_IMAGE}`);
  }

  const build = stages.find((s) => runs(s).some((r) => /\bnpm run build\b/.test(r)));
  if (build === undefined) problems.push("no stage runs `npm run build`");
  else {
    const cmds = runs(build);
    const ci = cmds.findIndex((r) => isNpmCi(r) && !isProdNpmCi(r));
    const compile = cmds.findIndex((r) => /\bnpm run build\b/.test(r));
    if (ci < 0 || ci > compile)
      problems.push("the build stage must run `npm ci` (with dev dependencies) before `npm run build`");
    const lockCopied = copies(build).findIndex((c) => c.sources.includes("package-lock.json"));
    if (lockCopied < 0) problems.push("the build stage must copy package-lock.json for `npm ci`");
  }

  const runtime = stages[stages.length - 1];
  if (runtime === undefined) return problems;
  const ins = (keyword: string) => runtime.instructions.filter((i) => i.keyword === keyword);
  const env = ins("ENV")
    .map((i) => i.args)
    .join(" ");
  if (!/\bNODE_ENV[= ]"?production\b/.test(env))
    problems.push("the runtime stage must set NODE_ENV=production");

  const user = ins("USER").at(-1)?.args.split(":")[0];
  if (user === undefined) problems.push("the runtime stage runs as root: set USER");
  else if (user === "root" || user === "0") problems.push(`USER ${user} is root`);
  else if (!/^\d+$/.test(user))
    problems.push(`USER ${user}: use a numeric uid, so that Kubernetes' runAsNonRoot can verify it`);

  const exposed = ins("EXPOSE")
    .flatMap((i) => i.args.split(/\s+/))
    .map((p) => p.replace(/\/tcp$/, ""));
  for (const port of ["50051", "8080"])
    if (!exposed.includes(port)) problems.push(`EXPOSE ${port} is missing`);

  const entrypoint = ins("ENTRYPOINT").at(-1);
  const cmd = ins("CMD").at(-1);
  const argv = entrypoint === undefined ? undefined : execForm(entrypoint.args);
  if (entrypoint === undefined) problems.push("no ENTRYPOINT");
  else if (argv === undefined)
    problems.push("ENTRYPOINT is in shell form: /bin/sh -c would be PID 1 and swallow SIGTERM");
  else if (argv[0] !== "node")
    problems.push(
      `ENTRYPOINT starts ${argv[0]}, expected node itself (no wrapper between the signal and the process)`,
    );
  if (cmd !== undefined && execForm(cmd.args) === undefined) problems.push("CMD is in shell form");
  const all = [...(argv ?? []), ...(cmd === undefined ? [] : (execForm(cmd.args) ?? []))];
  if (all.some((a) => a === "sh" || a === "bash" || a === "/bin/sh" || a === "-c"))
    problems.push("a shell wraps the process");
  const health = ins("HEALTHCHECK").at(-1);
  if (health !== undefined && health.args !== "NONE") {
    const cmdPart = /\bCMD\s+(.*)$/.exec(health.args)?.[1] ?? "";
    if (execForm(cmdPart) === undefined) problems.push("HEALTHCHECK CMD is in shell form");
  }

  // What the runtime holds, and where each piece comes from.
  const runtimeCopies = copies(runtime);
  const copiedTo = (what: string) =>
    runtimeCopies.find((c) => c.sources.some((s) => s.replace(/\/$/, "").endsWith(what)));
  for (const what of ["package.json", "bin", "proto"]) {
    if (copiedTo(what) === undefined) problems.push(`the runtime stage does not copy ${what}`);
  }
  const dist = copiedTo("dist");
  if (dist === undefined || byName(dist.from) !== build)
    problems.push("the runtime stage must copy dist/ from the build stage");
  if (
    runtimeCopies.some(
      (c) => c.from === undefined && c.sources.some((s) => s === "." || s === "src" || s.startsWith("src/")),
    )
  ) {
    problems.push("the runtime stage copies sources");
  }
  const modules = copiedTo("node_modules");
  const depsStage = modules === undefined ? runtime : byName(modules.from);
  if (depsStage === undefined || !runs(depsStage).some(isProdNpmCi)) {
    problems.push("the runtime's node_modules must come from `npm ci --omit=dev`");
  } else if (runs(depsStage).some((r) => isNpmCi(r) && !isProdNpmCi(r))) {
    problems.push(`stage ${depsStage.name ?? depsStage.index} also installs dev dependencies`);
  }
  if (argv !== undefined && argv[1] !== undefined) {
    const script = argv[1].split("/")[0] ?? "";
    if (!runtimeCopies.some((c) => c.dest.replace(/^\.\//, "").replace(/\/$/, "") === script)) {
      problems.push(`the ENTRYPOINT's ${argv[1]} is not copied into the runtime stage`);
    }
  }
  return problems;
}

// ───────────────────────── .dockerignore (Docker's matcher: last matching pattern wins; a pattern also matches a path's parents)

function ignorePatterns(text: string): { readonly re: RegExp; readonly include: boolean }[] {
  return text
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l !== "" && !l.startsWith("#"))
    .map((l) => {
      const include = l.startsWith("!");
      const pattern = (include ? l.slice(1) : l).trim().replace(/^\/+/, "").replace(/\/+$/, "");
      let re = "";
      for (let i = 0; i < pattern.length; i++) {
        const c = pattern[i]!;
        if (c === "*" && pattern[i + 1] === "*") {
          i++;
          if (pattern[i + 1] === "/") {
            i++;
            re += "(?:.*/)?";
          } else re += ".*";
        } else if (c === "*") re += "[^/]*";
        else if (c === "?") re += "[^/]";
        else re += c.replace(/[.+^${}()|[\]\\]/g, "\\$&");
      }
      return { re: new RegExp(`^${re}$`), include };
    });
}

function ignored(patterns: ReturnType<typeof ignorePatterns>, path: string): boolean {
  const parts = path.split("/");
  const candidates = parts.map((_, i) => parts.slice(0, i + 1).join("/"));
  let excluded = false;
  for (const p of patterns) if (candidates.some((c) => p.re.test(c))) excluded = !p.include;
  return excluded;
}

function filesUnder(dir: string): string[] {
  const root = repoPath("");
  const walk = (d: string): string[] =>
    readdirSync(d, { withFileTypes: true }).flatMap((e) =>
      e.isDirectory() ? walk(join(d, e.name)) : [relative(root, join(d, e.name))],
    );
  return statSync(dir).isDirectory() ? walk(dir) : [relative(root, dir)];
}

// ───────────────────────── tests

const DOCKERFILE = readFileSync(repoPath("Dockerfile"), "utf8");

t.test(
  "the Dockerfile: multi-stage, production dependencies only, non-root, signals reach node",
  async (t) => {
    t.strictSame(dockerfileProblems(DOCKERFILE), []);
    const stages = parseDockerfile(DOCKERFILE);
    t.strictSame(
      stages.map((s) => s.name),
      ["build", "prod-deps", "runtime"],
      "build, prod-deps, runtime",
    );
    const runtime = stages.at(-1)!;
    const cmd = execForm(runtime.instructions.find((i) => i.keyword === "CMD")?.args ?? "[]");
    t.strictSame(
      cmd,
      ["serve", "--config", "/etc/relevance-gateway/gateway.yaml"],
      "serves the mounted config by default",
    );
    const pkg = JSON.parse(readFileSync(repoPath("package.json"), "utf8")) as {
      type?: string;
      bin?: Record<string, string>;
    };
    t.equal(pkg.type, "module", "package.json (copied into the runtime) makes dist/ ESM");
    t.equal(
      pkg.bin?.["relevance-gateway"],
      "bin/relevance-gateway.js",
      "the ENTRYPOINT script is the package's bin",
    );
  },
);

t.test("each check fails on a Dockerfile that breaks it", async (t) => {
  const cases: [from: string | RegExp, to: string, problem: RegExp, what: string][] = [
    [
      /^ENTRYPOINT .*$/m,
      "ENTRYPOINT node bin/relevance-gateway.js serve",
      /ENTRYPOINT is in shell form/,
      "shell form",
    ],
    [
      /^ENTRYPOINT .*$/m,
      'ENTRYPOINT ["sh", "-c", "node bin/relevance-gateway.js"]',
      /expected node itself/,
      "a shell wrapper",
    ],
    [/^USER .*$/m, "USER root", /USER root is root/, "root"],
    [/^USER .*$/m, "USER node", /numeric uid/, "a user name runAsNonRoot cannot verify"],
    [/^ENV NODE_ENV=production$/m, "ENV NODE_ENV=development", /NODE_ENV=production/, "NODE_ENV"],
    ["--omit=dev ", "", /node_modules must come from `npm ci --omit=dev`/, "dev dependencies installed"],
    [
      "COPY --from=prod-deps /app/node_modules",
      "COPY --from=build /app/node_modules",
      /node_modules must come from/,
      "node_modules from the build stage",
    ],
    ["EXPOSE 50051 8080", "EXPOSE 50051", /EXPOSE 8080 is missing/, "a port not exposed"],
    [
      "ARG NODE_IMAGE=node:24-slim",
      "ARG NODE_IMAGE=node:24",
      /FROM node:24, expected node:24-slim/,
      "another base",
    ],
    [
      "COPY --from=build /app/dist ./dist",
      "COPY dist ./dist",
      /copy dist\/ from the build stage/,
      "dist from the context",
    ],
    [
      "COPY bin ./bin",
      "COPY bin ./scripts",
      /bin\/relevance-gateway.js is not copied/,
      "the entry script missing",
    ],
  ];
  for (const [from, to, problem, what] of cases) {
    const text = DOCKERFILE.replace(from, to);
    if (text === DOCKERFILE) throw new Error(`the mutation ${String(from)} changed nothing`);
    t.match(dockerfileProblems(text).join("\n"), problem, what);
  }
  // biome-ignore lint/suspicious/noTemplateCurlyInString: Dockerfile variable syntax, not a JS template.
  t.throws(() => parseDockerfile("FROM ${BASE}\n"), /no ARG before it defines/, "FROM with an undefined ARG");
});

t.test(".dockerignore lets in what the build copies, and nothing else of note", async (t) => {
  const patterns = ignorePatterns(readFileSync(repoPath(".dockerignore"), "utf8"));
  const sources = parseDockerfile(DOCKERFILE)
    .flatMap(copies)
    .filter((c) => c.from === undefined)
    .flatMap((c) => c.sources);
  t.ok(sources.length > 0, `the build copies ${[...new Set(sources)].join(", ")} from the context`);
  for (const source of new Set(sources)) {
    const files = filesUnder(repoPath(source));
    const dropped = files.filter((f) => ignored(patterns, f));
    t.strictSame(dropped, [], `${source}: all ${files.length} file(s) reach the build`);
  }
  for (const path of [
    "node_modules/yaml/package.json",
    "dist/cli/main.js",
    ".git/HEAD",
    "test/deploy/k8s.test.ts",
    ".env",
    "deploy/config/local.yaml",
    "comparisons/comparisons.jsonl",
    ".tap/processinfo/x.json",
    "src/.DS_Store",
  ]) {
    t.ok(ignored(patterns, path), `${path} stays out of the build context`);
  }
  // The matcher itself: Docker's rules on a small example.
  const example = ignorePatterns("**\n!src\nsrc/**/*.test.ts\n!src/keep.test.ts\n");
  t.strictSame(
    ["src/a.ts", "src/x/b.test.ts", "src/keep.test.ts", "README.md"].map((p) => ignored(example, p)),
    [false, true, false, true],
  );
});

t.test("the Triton image is built from the Triton release its tag names", async (t) => {
  const stages = parseDockerfile(readFileSync(repoPath("deploy/triton/Dockerfile"), "utf8"));
  t.equal(stages.length, 1);
  const release = /^nvcr\.io\/nvidia\/tritonserver:(\d+\.\d+)-py3$/.exec(stages[0]?.image ?? "")?.[1];
  t.ok(release, `based on an NGC Triton -py3 image (${stages[0]?.image})`);
  t.ok(
    runs(stages[0]!).some((r) => /pip install .*tokenizers/.test(r)),
    "adds the tokenizers package model.py imports",
  );
  const user = stages[0]?.instructions.filter((i) => i.keyword === "USER").at(-1)?.args ?? "";
  t.match(user, /^[1-9]\d*(:\d+)?$/, "runs as a numeric non-root uid");
  const compose = parse(readFileSync(repoPath("deploy/compose/compose.yaml"), "utf8")) as {
    services: Record<string, { image?: string }>;
  };
  t.equal(
    compose.services.triton?.image,
    `relevance-student-triton:${release}`,
    "compose tags it with the release",
  );
  const base = readYamlDocuments(repoPath("k8s/base/triton-student.yaml"));
  t.match(
    JSON.stringify(base),
    new RegExp(`"image":"relevance-student-triton:${release}"`),
    "k8s/base tags it with the release",
  );
  t.match(
    readFileSync(repoPath("k8s/overlays/prod/kustomization.yaml"), "utf8"),
    new RegExp(`newTag: "${release}"`),
    "prod pins the release",
  );
});
