// Acceptance (issue 7, "Triton model repository"): deploy/triton/model_repository parses as Triton's
// ModelConfig text format (test/deploy/pbtxt.ts), the ensemble is wired consistently (every step's
// inputs come from somewhere, types and shapes agree, batch limits nest), the gateway's own readiness
// check accepts it, every deployment config of the gateway that targets it agrees on model name,
// tensor names and batch limits, and the tokenizer's model.py is valid Python that uses the
// configured tensor and parameter names. Broken configs are shown to fail each check.
import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import t from "tap";
import { gatewayConfigSchema, parseConfig } from "../../src/config/index.js";
import {
  gatewayReadiness,
  loadModelRepository,
  MODEL_REPOSITORY,
  repoPath,
  studentMismatches,
  tritonBackend,
} from "./deploy-helpers.js";
import { decodeMessage, parseModelConfig, parsePbtxt, type TritonModelConfig } from "./pbtxt.js";

const execFileAsync = promisify(execFile);

const STUDENT = "relevance_student";
/** The gateway configs meant for a Triton serving this repository (the k8s ConfigMaps and compose). */
const GATEWAY_CONFIGS = [
  "k8s/overlays/dev/gateway.yaml",
  "k8s/overlays/prod/gateway.yaml",
  "deploy/config/compose.yaml",
];

const repo = loadModelRepository(repoPath(MODEL_REPOSITORY));
const model = (name: string): TritonModelConfig => {
  const m = repo.get(name);
  if (m === undefined) throw new Error(`${name} is not in ${MODEL_REPOSITORY}`);
  return m;
};

/** The ensemble's wiring problems (what Triton checks when it loads an ensemble, and a bit more). */
function ensembleProblems(
  ensemble: TritonModelConfig,
  models: ReadonlyMap<string, TritonModelConfig>,
): string[] {
  const problems: string[] = [];
  // Ensemble tensor name → its type and shape, as the ensemble's inputs and the steps' outputs define them.
  const tensors = new Map(ensemble.input.map((x) => [x.name, x] as const));
  const produced = new Set<string>();
  for (const [i, step] of ensemble.ensembleSteps.entries()) {
    const m = models.get(step.modelName);
    if (m === undefined) {
      problems.push(`step ${i}: model ${step.modelName} is not in the repository`);
      continue;
    }
    if (ensemble.maxBatchSize > m.maxBatchSize) {
      problems.push(
        `step ${i}: ensemble max_batch_size ${ensemble.maxBatchSize} > ${m.name}'s ${m.maxBatchSize}`,
      );
    }
    for (const input of m.input) {
      const source = Object.entries(step.inputMap).find(([k]) => k === input.name)?.[1];
      const tensor = source === undefined ? undefined : tensors.get(source);
      if (source === undefined) problems.push(`step ${i}: ${m.name} input ${input.name} is not mapped`);
      else if (tensor === undefined)
        problems.push(`step ${i}: ${m.name} input ${input.name} ← ${source}, which nothing before produces`);
      else if (tensor.dataType !== input.dataType || tensor.dims.join() !== input.dims.join()) {
        problems.push(
          `step ${i}: ${m.name} input ${input.name} is ${input.dataType} [${input.dims}], ${source} is ${tensor.dataType} [${tensor.dims}]`,
        );
      }
    }
    for (const key of Object.keys(step.inputMap)) {
      if (!m.input.some((x) => x.name === key)) problems.push(`step ${i}: ${m.name} has no input ${key}`);
    }
    for (const [key, target] of Object.entries(step.outputMap)) {
      const output = m.output.find((x) => x.name === key);
      if (output === undefined) problems.push(`step ${i}: ${m.name} has no output ${key}`);
      else if (produced.has(target)) problems.push(`step ${i}: ${target} is produced twice`);
      else {
        produced.add(target);
        tensors.set(target, { ...output, name: target });
      }
    }
  }
  for (const output of ensemble.output) {
    const tensor = tensors.get(output.name);
    if (!produced.has(output.name) || tensor === undefined)
      problems.push(`ensemble output ${output.name} is produced by no step`);
    else if (tensor.dataType !== output.dataType || tensor.dims.join() !== output.dims.join()) {
      problems.push(
        `ensemble output ${output.name} is ${output.dataType} [${output.dims}], its step gives ${tensor.dataType} [${tensor.dims}]`,
      );
    }
  }
  return problems;
}

/** Triton's rules for a composing model's batcher, plus what this deployment relies on. */
function batcherProblems(m: TritonModelConfig): string[] {
  const problems: string[] = [];
  const db = m.dynamicBatching;
  if (db === undefined) return [`${m.name}: no dynamic_batching`];
  for (const size of db.preferredBatchSize) {
    if (size < 1 || size > m.maxBatchSize)
      problems.push(`${m.name}: preferred_batch_size ${size} is not in [1, ${m.maxBatchSize}]`);
  }
  const policy = db.defaultQueuePolicy;
  if (policy === undefined) problems.push(`${m.name}: no default_queue_policy`);
  else {
    if (policy.maxQueueSize <= 0) problems.push(`${m.name}: the queue is unbounded (max_queue_size 0)`);
    if (policy.defaultTimeoutMicroseconds <= 0) problems.push(`${m.name}: queued requests never time out`);
  }
  // Triton's model_config_utils.cc: the default level is one of the levels; ordering is per level.
  const { priorityLevels: levels, defaultPriorityLevel: dflt } = db;
  if (levels > 0 && (dflt < 1 || dflt > levels))
    problems.push(`${m.name}: default_priority_level ${dflt} is not in [1, ${levels}]`);
  if (levels > 1 && db.preserveOrdering)
    problems.push(`${m.name}: preserve_ordering cannot be combined with priority_levels ${levels}`);
  return problems;
}

t.test("every config.pbtxt parses, is named after its directory and has a version directory", async (t) => {
  t.strictSame([...repo.keys()].sort(), ["relevance_cross_encoder", STUDENT, "relevance_tokenizer"]);
  for (const [dir, m] of repo) {
    t.equal(m.name, dir, `${dir}: name matches the directory`);
    t.ok(existsSync(repoPath(join(MODEL_REPOSITORY, dir, "1"))), `${dir}: has version 1`);
    t.ok(m.maxBatchSize > 0, `${dir}: batches (max_batch_size ${m.maxBatchSize})`);
  }
});

t.test("the ensemble: tokenizer → cross-encoder → LOGITS, wired and batched consistently", async (t) => {
  const student = model(STUDENT);
  t.equal(student.platform, "ensemble");
  t.strictSame(ensembleProblems(student, repo), [], "every step's inputs and the ensemble's outputs line up");
  t.strictSame(
    student.output.map((o) => [o.name, o.dataType, o.dims]),
    [["LOGITS", "TYPE_FP32", [5]]],
    "LOGITS: FP32 [-1, 5]",
  );
  for (const name of ["relevance_tokenizer", "relevance_cross_encoder"]) {
    t.strictSame(batcherProblems(model(name)), [], `${name}: dynamic batching with a bounded, timed queue`);
  }
  t.ok(
    (model("relevance_cross_encoder").dynamicBatching?.preferredBatchSize.length ?? 0) > 0,
    "preferred sizes set",
  );
  const tokenizer = model("relevance_tokenizer");
  const length = Number(tokenizer.parameters.max_length);
  t.ok(Number.isInteger(length) && length > 0, `the tokenizer pads to max_length ${length}`);
  for (const o of tokenizer.output)
    t.strictSame(o.dims, [length], `${o.name}: fixed length [${length}], so requests batch together`);
  t.equal(tokenizer.instanceGroups[0]?.kind, "KIND_CPU", "tokenization runs on the CPU");
  t.equal(
    model("relevance_cross_encoder").instanceGroups[0]?.kind,
    "KIND_GPU",
    "the cross-encoder runs on the GPU",
  );

  // The same checks catch a broken ensemble.
  const broken: TritonModelConfig = {
    ...student,
    maxBatchSize: 128,
    ensembleSteps: student.ensembleSteps.map((s, i) =>
      i === 1 ? { ...s, outputMap: { logits: "SCORES" } } : s,
    ),
  };
  const problems = ensembleProblems(broken, repo);
  t.match(
    problems.join("\n"),
    /ensemble max_batch_size 128 > relevance_tokenizer's 64/,
    "a too-large ensemble batch is caught",
  );
  t.match(
    problems.join("\n"),
    /ensemble output LOGITS is produced by no step/,
    "an unproduced output is caught",
  );
});

t.test("the gateway's readiness check accepts the ensemble with its default tensor names", async (t) => {
  const defaults = tritonBackend(
    gatewayConfigSchema.parse({
      backends: { student: { kind: "triton", endpoints: ["triton:8001"], model: STUDENT } },
    }),
    "student",
  );
  t.strictSame(defaults.tensors, { query: "QUERY", document: "DOCUMENT", output: "LOGITS" }, "the defaults");
  t.strictSame(gatewayReadiness(model(STUDENT), defaults.tensors), { ready: true, maxBatchSize: 64 });
  const renamed = { ...model(STUDENT), output: [{ name: "SCORES", dataType: "TYPE_FP32", dims: [5] }] };
  t.match(
    gatewayReadiness(renamed, defaults.tensors),
    { ready: false, reason: /no output tensor 'LOGITS'/ },
    "a renamed output is refused",
  );
});

for (const file of GATEWAY_CONFIGS) {
  t.test(`${file} agrees with the model repository`, async (t) => {
    const cfg = parseConfig(readFileSync(repoPath(file), "utf8"), file, {});
    const student = tritonBackend(cfg, cfg.routing.default);
    t.equal(student.model, STUDENT, "targets relevance_student");
    t.strictSame(
      studentMismatches(file, student, repo),
      [],
      "model, tensors, batch size, preferred sizes, concurrency, timeouts",
    );
  });
}

t.test("a gateway config that disagrees with the repository is caught", async (t) => {
  const cfg = parseConfig(readFileSync(repoPath(GATEWAY_CONFIGS[1]!), "utf8"), "prod", {});
  const student = tritonBackend(cfg, "student");
  const mismatches = studentMismatches(
    "broken",
    {
      ...student,
      tensors: { ...student.tensors, query: "QUERIES" },
      batching: {
        ...student.batching,
        maxBatchSize: 128,
        preferredBatchSizes: [48],
        maxConcurrentBatches: 4,
      },
      bandPriorities: { interactive: 1, bulk: 1, background: 4 },
    },
    repo,
  ).join("\n");
  t.match(mismatches, /no input tensor 'QUERIES'/, "tensor name");
  t.match(mismatches, /maxBatchSize 128 exceeds relevance_student's max_batch_size 64/, "batch size");
  t.match(mismatches, /preferredBatchSizes 48 is not one of relevance_cross_encoder's/, "preferred size");
  t.match(
    mismatches,
    /maxConcurrentBatches 4 differs from relevance_cross_encoder's GPU instance count 2/,
    "concurrency",
  );
  t.match(
    mismatches,
    /bandPriorities.background 4 is not one of relevance_cross_encoder's priority levels \[1, 3\]/,
    "a band above the model's levels",
  );
  t.match(mismatches, /bandPriorities 1, 1, 4 do not keep interactive before bulk/, "two bands at one level");
  t.match(
    studentMismatches("broken", { ...student, model: "relevance_teacher" }, repo).join(),
    /not in deploy\/triton/,
    "model name",
  );
});

t.test("a composing model's priority levels that Triton would refuse are caught", async (t) => {
  const m = model("relevance_cross_encoder");
  const db = m.dynamicBatching!;
  t.equal(db.priorityLevels, 3, "three levels, one per band");
  const broken = { ...m, dynamicBatching: { ...db, defaultPriorityLevel: 4, preserveOrdering: true } };
  const problems = batcherProblems(broken).join("\n");
  t.match(problems, /default_priority_level 4 is not in \[1, 3\]/);
  t.match(problems, /preserve_ordering cannot be combined with priority_levels 3/);
});

t.test("the text-format parser rejects what Triton would", async (t) => {
  const cases: [text: string, problem: RegExp, what: string][] = [
    [
      'name: "x"\nmax_batch: 8\n',
      /bad\.pbtxt:2: unknown field 'max_batch' in ModelConfig/,
      "an unknown field",
    ],
    [
      'input [ { name: "Q" data_type: TYPE_TEXT } ]',
      /'TYPE_TEXT' is not one of TYPE_INVALID/,
      "an unknown enum value",
    ],
    ["max_batch_size: 6.5", /expected an integer \(int32\), found 6\.5/, "a fraction for an integer"],
    [
      "max_batch_size: 8\nmax_batch_size: 16",
      /:2: field 'max_batch_size' of ModelConfig is set twice/,
      "a repeat",
    ],
    [
      "dynamic_batching { }\nensemble_scheduling { }",
      /:2: dynamic_batching and ensemble_scheduling are alternatives/,
      "oneof",
    ],
    [
      "dynamic_batching {\n  max_queue_delay_microseconds: 100\n",
      /expected '}' before the end of the file/,
      "unclosed",
    ],
    ['name: "unterminated\n', /bad\.pbtxt:1: unterminated string/, "an unterminated string"],
    [
      "dynamic_batching { default_queue_policy { max_queue_size: -1 } }",
      /-1 is out of range for uint32/,
      "a negative uint",
    ],
    [
      'parameters { key: "a" value: { string_value: "1" } }\nparameters { key: "a" value: { string_value: "2" } }',
      /duplicate key "a"/,
      "a duplicate map key",
    ],
  ];
  for (const [text, problem, what] of cases) {
    t.throws(() => decodeMessage(parsePbtxt(text, "bad.pbtxt"), "bad.pbtxt"), problem, what);
  }
  t.strictSame(
    parseModelConfig(
      'name: "n" # a comment\nmax_batch_size: 4, input: [ { name: \'Q\' "UERY" data_type: TYPE_STRING dims: [ -1 ] } ];',
      "ok.pbtxt",
    ).input,
    [{ name: "QUERY", dataType: "TYPE_STRING", dims: [-1] }],
    "comments, separators, both quotes, string concatenation",
  );
});

t.test("the tokenizer's model.py is valid Python using the configured names", async (t) => {
  const file = repoPath(join(MODEL_REPOSITORY, "relevance_tokenizer/1/model.py"));
  // Python's own parser; the script prints what the checks need from the syntax tree.
  const script = `
import ast, json, sys
tree = ast.parse(open(sys.argv[1], encoding="utf-8").read(), sys.argv[1])
consts = {}
for node in tree.body:
    if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
        try:
            consts[node.targets[0].id] = ast.literal_eval(node.value)
        except ValueError:
            pass
methods = [f.name for c in tree.body if isinstance(c, ast.ClassDef) and c.name == "TritonPythonModel"
           for f in c.body if isinstance(f, ast.FunctionDef)]
params = [n.args[1].value for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)
          and n.func.id == "_parameter" and len(n.args) >= 2 and isinstance(n.args[1], ast.Constant)]
print(json.dumps({"consts": consts, "methods": methods, "params": params}))
`;
  const { stdout } = await execFileAsync("python3", ["-c", script, file], { timeout: 30_000 });
  const found = JSON.parse(stdout) as {
    consts: Record<string, unknown>;
    methods: string[];
    params: string[];
  };
  const tokenizer = model("relevance_tokenizer");
  t.strictSame(
    [found.consts.INPUT_QUERY, found.consts.INPUT_DOCUMENT],
    tokenizer.input.map((i) => i.name),
    "reads the configured inputs",
  );
  t.strictSame(
    found.consts.OUTPUT_NAMES,
    tokenizer.output.map((o) => o.name),
    "writes the configured outputs",
  );
  t.strictSame(
    found.methods.filter((m) => ["initialize", "execute", "finalize"].includes(m)).sort(),
    ["execute", "finalize", "initialize"],
    "TritonPythonModel has initialize, execute and finalize",
  );
  t.strictSame(
    [...new Set(found.params)].sort(),
    Object.keys(tokenizer.parameters).sort(),
    "reads exactly the parameters config.pbtxt sets",
  );
  const dir = mkdtempSync(join(tmpdir(), "rg-model-py-"));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, "model.py"), "class TritonPythonModel:\n    def execute(self, requests:\n");
  await t.rejects(
    execFileAsync("python3", ["-c", script, join(dir, "model.py")], { timeout: 30_000 }),
    /SyntaxError/,
    "and the same script fails on a file that is not Python",
  );
});
