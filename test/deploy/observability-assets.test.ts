// Acceptance (issue 6, "Dashboards and alerts"): every metric the Grafana dashboard and the Prometheus
// alert rules name is one the gateway exports, and the rules pass Prometheus's own checks. Also: the
// dashboard's PromQL parses, the rules' unit tests pass, the example prometheus.yml loads the rules,
// every alert has a severity, a summary and a runbook section that exists, and each check is shown to
// fail on a broken input. Needs `promtool` (Debian package `prometheus`;
// scripts/provision-test-tools.sh, the first step of `npm test`, installs it).
import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import t from "tap";
import { parse, stringify } from "yaml";
import { doc } from "../helpers/grpc-client.js";
import { useGateway } from "../helpers/use-gateway.js";

const execFileAsync = promisify(execFile);

const repoPath = (relative: string) => fileURLToPath(new URL(`../../${relative}`, import.meta.url));
const DASHBOARD = repoPath("deploy/grafana/dashboards/relevance-gateway.json");
const ALERTS = repoPath("deploy/prometheus/alerts.yaml");
const ALERT_TESTS = repoPath("deploy/prometheus/alerts.test.yaml");
const PROMETHEUS_CONFIG = repoPath("deploy/prometheus/prometheus.yml");
const RUNBOOK = "docs/observability.md";
const INSTALL = "run `npm run test:tools` (it installs Debian's prometheus package, which ships promtool)";
const TIMEOUT_MS = 60_000;

const METRIC_TOKEN = /relevance_gateway_[a-z0-9_]+/g;
/** How the dashboard's panels name their datasource: the `datasource` variable. */
// biome-ignore lint/suspicious/noTemplateCurlyInString: Grafana's variable syntax, not a JS template.
const DATASOURCE_VARIABLE = "${datasource}";
const SEVERITIES = ["critical", "warning", "info"];

// ───────────────────────── what the gateway exports

/**
 * Metric names in Prometheus exposition text, from its `# TYPE` lines (prom-client prints them for
 * labelled metrics that have no sample yet), with the series names a histogram or summary adds.
 */
function exportedNames(text: string): Set<string> {
  const names = new Set<string>();
  for (const [, name, type] of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
    if (type === "histogram") for (const s of ["_bucket", "_sum", "_count"]) names.add(`${name}${s}`);
    else if (type === "summary") for (const s of ["", "_sum", "_count"]) names.add(`${name}${s}`);
    else names.add(name!);
  }
  return names;
}

/** A PromQL (or template) text and where it comes from, for failure messages. */
interface Use {
  readonly where: string;
  readonly text: string;
}

/** "name (where, where)" for every metric token in `uses` that `exported` lacks. */
function missingMetrics(uses: readonly Use[], exported: ReadonlySet<string>): string[] {
  const missing = new Map<string, Set<string>>();
  for (const use of uses) {
    for (const [token] of use.text.matchAll(METRIC_TOKEN)) {
      if (exported.has(token)) continue;
      const places = missing.get(token) ?? new Set<string>();
      places.add(use.where);
      missing.set(token, places);
    }
  }
  return [...missing].sort().map(([name, places]) => `${name} (${[...places].join("; ")})`);
}

// ───────────────────────── the dashboard

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };
const isObject = (v: Json | undefined): v is JsonObject =>
  typeof v === "object" && v !== null && !Array.isArray(v);

/** Every PromQL expression in a dashboard: panel targets (rows included), annotations, variables. */
function dashboardExpressions(dashboard: JsonObject): Use[] {
  const uses: Use[] = [];
  const walk = (node: Json | undefined, where: readonly string[]): void => {
    if (Array.isArray(node)) {
      for (const child of node) walk(child, where);
    } else if (isObject(node)) {
      const here =
        node !== dashboard && typeof node.title === "string" ? [...where, `panel "${node.title}"`] : where;
      for (const [key, value] of Object.entries(node)) {
        if (key === "templating") continue;
        if (key === "expr" && typeof value === "string") {
          const what =
            typeof node.refId === "string"
              ? `query ${node.refId}`
              : typeof node.name === "string"
                ? `annotation "${node.name}"`
                : "expr";
          uses.push({ where: ["dashboard", ...here, what].join(" "), text: value });
        } else walk(value, here);
      }
    }
  };
  walk(dashboard, []);
  const templating = dashboard.templating;
  const variables = isObject(templating) && Array.isArray(templating.list) ? templating.list : [];
  for (const v of variables) {
    if (!isObject(v) || v.type !== "query") continue;
    const raw = isObject(v.query) ? v.query.query : (v.query ?? v.definition);
    const query = typeof raw === "string" ? raw : "";
    uses.push({ where: `dashboard variable "${String(v.name)}"`, text: variableExpression(query) });
  }
  return uses;
}

/** The PromQL inside a Grafana Prometheus variable query: label_values(expr, label) or query_result(expr). */
function variableExpression(query: string): string {
  const labelValues = /^\s*label_values\(\s*(.+),\s*[a-zA-Z_][a-zA-Z0-9_]*\s*\)\s*$/s.exec(query);
  if (labelValues) return labelValues[1]!;
  const queryResult = /^\s*query_result\((.+)\)\s*$/s.exec(query);
  if (queryResult) return queryResult[1]!;
  throw new Error(
    `unsupported variable query ${JSON.stringify(query)}: expected label_values(…) or query_result(…)`,
  );
}

/**
 * The expression with Grafana's variables replaced by values PromQL accepts: interval variables by
 * durations, the dashboard's own variables (only used in regex label matchers) by `.*`.
 */
function substituteVariables(expr: string): string {
  const out = expr
    .replace(/\$\{?__rate_interval\}?/g, "5m")
    .replace(/\$\{?__interval_ms\}?/g, "60000")
    .replace(/\$\{?__interval\}?/g, "1m")
    .replace(/\$\{?__range_s\}?/g, "3600")
    .replace(/\$\{?__range\}?/g, "1h")
    .replace(/\$\{[A-Za-z_][A-Za-z0-9_]*(?::[a-z]+)?\}|\$[A-Za-z_][A-Za-z0-9_]*/g, ".*");
  if (out.includes("$")) throw new Error(`a Grafana variable left in ${JSON.stringify(expr)}`);
  return out;
}

/** The expressions as a Prometheus rule file of recording rules, named after where each comes from. */
function asRecordingRules(uses: readonly Use[]): string {
  const names = new Set<string>();
  const rules = uses.map((use, i) => {
    let record = `dashboard:${use.where.replace(/[^A-Za-z0-9]+/g, "_").replace(/^_|_$/g, "")}`;
    if (names.has(record)) record = `${record}_${i}`;
    names.add(record);
    return { record, expr: substituteVariables(use.text) };
  });
  return stringify({ groups: [{ name: "dashboard-expressions", rules }] }, { lineWidth: 0 });
}

// ───────────────────────── the rules

interface Rule {
  readonly alert?: string;
  readonly record?: string;
  readonly expr: string;
  readonly for?: string;
  readonly labels?: Record<string, string>;
  readonly annotations?: Record<string, string>;
}

function rulesOf(text: string): Rule[] {
  const file = parse(text) as { groups: { name: string; rules: Rule[] }[] };
  return file.groups.flatMap((g) => g.rules);
}

/** The expressions and annotation templates (which may hold queries) of every rule. */
function ruleUses(rules: readonly Rule[], file: string): Use[] {
  return rules.flatMap((r) => {
    const where = `${file}: ${r.alert ?? r.record}`;
    return [{ where, text: r.expr }, ...Object.values(r.annotations ?? {}).map((text) => ({ where, text }))];
  });
}

/** GitHub's anchor for a Markdown heading. */
const slug = (heading: string) =>
  heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, "")
    .replace(/\s/g, "-");

/** What an alert lacks: `for`, a known severity, summary, description, a runbook section that exists. */
function alertProblems(rules: readonly Rule[], runbook: string): string[] {
  const anchors = new Set([...runbook.matchAll(/^#{1,6} (.+)$/gm)].map((m) => slug(m[1]!)));
  const problems: string[] = [];
  for (const r of rules) {
    if (r.alert === undefined) continue;
    const say = (what: string) => problems.push(`${r.alert}: ${what}`);
    if (r.for === undefined) say("no `for`");
    if (!SEVERITIES.includes(r.labels?.severity ?? "")) say(`severity not one of ${SEVERITIES.join(", ")}`);
    if (!r.annotations?.summary) say("no summary");
    if (!r.annotations?.description) say("no description");
    const runbookUrl = r.annotations?.runbook_url ?? "";
    const anchor = runbookUrl.startsWith(`${RUNBOOK}#`) ? runbookUrl.slice(RUNBOOK.length + 1) : undefined;
    if (anchor === undefined) say(`runbook_url ${JSON.stringify(runbookUrl)} is not ${RUNBOOK}#<section>`);
    else if (!anchors.has(anchor)) say(`runbook section #${anchor} is not a heading of ${RUNBOOK}`);
  }
  return problems;
}

// ───────────────────────── promtool

interface Outcome {
  readonly code: number;
  readonly output: string;
}

async function promtool(args: string[], cwd?: string): Promise<Outcome> {
  try {
    const { stdout, stderr } = await execFileAsync("promtool", args, { cwd, timeout: TIMEOUT_MS });
    return { code: 0, output: `${stdout}${stderr}` };
  } catch (err) {
    const e = err as { code?: unknown; stdout?: string; stderr?: string; message?: string };
    if (e.code === "ENOENT") throw new Error(`promtool is not on PATH: ${INSTALL}`);
    const code = typeof e.code === "number" ? e.code : -1;
    return { code, output: `${e.stdout ?? ""}${e.stderr ?? ""}` || String(e.message) };
  }
}

async function promtoolAvailable(): Promise<boolean> {
  try {
    await execFileAsync("promtool", ["--version"], { timeout: TIMEOUT_MS });
    return true;
  } catch {
    return false;
  }
}

/** `promtool check rules` on a rule file written from `text` into a fresh temporary directory. */
async function checkRulesText(text: string): Promise<Outcome> {
  const dir = await mkdtemp(join(tmpdir(), "rg-rules-"));
  try {
    const file = join(dir, "rules.yaml");
    await writeFile(file, text);
    return await promtool(["check", "rules", file]);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

// ───────────────────────── the tests

const dashboard = JSON.parse(await readFile(DASHBOARD, "utf8")) as JsonObject;
const alertsText = await readFile(ALERTS, "utf8");
const rules = rulesOf(alertsText);
const alertTests = parse(await readFile(ALERT_TESTS, "utf8")) as {
  tests: { name: string; input_series: { series: string }[] }[];
};
const dashboardUses = dashboardExpressions(dashboard);

t.test("the dashboard and the rules were read", async (t) => {
  t.ok(dashboardUses.length >= 40, `${dashboardUses.length} dashboard expressions`);
  t.ok(
    dashboardUses.some((u) => u.where.includes("variable") && u.text.includes("relevance_gateway_")),
    "variable queries included",
  );
  t.ok(
    dashboardUses.some((u) => u.where.includes("annotation")),
    "annotation queries included",
  );
  t.ok(rules.filter((r) => r.alert).length >= 10, `${rules.length} alert rules`);
});

t.test("every metric named by the dashboard and the alert rules is exported by the gateway", async (t) => {
  const logDir = await mkdtemp(join(tmpdir(), "rg-assets-log-"));
  t.teardown(() => rm(logDir, { recursive: true, force: true }));
  const { client, metricsText } = await useGateway(t, {
    teacher: {},
    config: {
      routing: {
        default: "student",
        shadow: { backend: "teacher", percent: 100, noiseFloorPercent: 100 },
      },
      comparisonLog: { dir: logDir },
      // Process and event-loop metrics are on by default in production; the helper turns them off.
      metrics: { collectDefault: true },
    },
  });
  const outcome = await client.score({
    query: { text: "chocolate chip cookies", locale: "en" },
    documents: [doc("d1", { title: "chocolate chip cookies" }), doc("d2", { title: "garden chairs" })],
    routingKey: "u1",
  });
  t.ok(outcome.ok, "a request answered");
  const exported = exportedNames(await metricsText());
  for (const name of [
    "relevance_gateway_requests_total",
    "relevance_gateway_request_duration_seconds_bucket",
    "relevance_gateway_shadow_noise_floor_labels_agreed_total",
    "relevance_gateway_process_cpu_seconds_total",
  ]) {
    t.ok(exported.has(name), `the exposition parses: ${name}`);
  }

  const sources: [string, Use[]][] = [
    ["dashboard", dashboardUses],
    ["alert rules", ruleUses(rules, "alerts.yaml")],
    [
      "alert unit tests",
      alertTests.tests.flatMap((c) =>
        c.input_series.map((s) => ({ where: `alerts.test.yaml: ${c.name}`, text: s.series })),
      ),
    ],
  ];
  for (const [source, uses] of sources) {
    const missing = missingMetrics(uses, exported);
    t.same(
      missing,
      [],
      missing.length === 0
        ? `every metric of the ${source} is exported`
        : `the ${source} name metrics the gateway does not export:\n  ${missing.join("\n  ")}`,
    );
  }
});

t.test("the metric check catches a name the gateway does not export", async (t) => {
  const exported = new Set(["relevance_gateway_requests_total"]);
  t.same(
    missingMetrics(
      [
        { where: "here", text: 'rate(relevance_gateway_requests_total{code="OK"}[5m])' },
        { where: "there", text: "relevance_gateway_no_such_metric > 0" },
      ],
      exported,
    ),
    ["relevance_gateway_no_such_metric (there)"],
  );
});

t.test("every alert has for, severity, summary, description and a runbook section", async (t) => {
  const runbook = await readFile(repoPath(RUNBOOK), "utf8");
  t.same(alertProblems(rules, runbook), [], "no alert lacks anything");
  const broken: Rule[] = [
    { alert: "NoSeverity", expr: "vector(1)", for: "1m", annotations: { summary: "s", description: "d" } },
    {
      alert: "BadRunbook",
      expr: "vector(1)",
      labels: { severity: "warning" },
      annotations: { summary: "s", description: "d", runbook_url: `${RUNBOOK}#no-such-section` },
    },
  ];
  t.same(alertProblems(broken, runbook), [
    "NoSeverity: severity not one of critical, warning, info",
    `NoSeverity: runbook_url "" is not ${RUNBOOK}#<section>`,
    "BadRunbook: no `for`",
    `BadRunbook: runbook section #no-such-section is not a heading of ${RUNBOOK}`,
  ]);
});

t.test("dashboard model: one datasource variable, units, unique panel ids, a backend variable", async (t) => {
  t.equal(dashboard.schemaVersion, 39);
  const variables = (dashboard.templating as { list: JsonObject[] }).list;
  t.ok(
    variables.some((v) => v.name === "datasource" && v.type === "datasource" && v.query === "prometheus"),
    "a Prometheus datasource variable",
  );
  t.ok(
    variables.some((v) => v.name === "backend" && String(v.definition).startsWith("label_values(")),
    "a backend variable from label_values",
  );
  const all: JsonObject[] = [];
  const collect = (list: Json | undefined) => {
    for (const p of Array.isArray(list) ? list : []) {
      if (!isObject(p)) continue;
      all.push(p);
      collect(p.panels);
    }
  };
  collect(dashboard.panels);
  const ids = all.map((p) => p.id);
  t.equal(new Set(ids).size, ids.length, "panel ids are unique");
  t.ok(all.filter((p) => p.type === "row").length >= 6, "panels are grouped in rows");
  const problems: string[] = [];
  for (const p of all.filter((p) => p.type !== "row")) {
    const say = (what: string) => problems.push(`${String(p.title)}: ${what}`);
    const grid = p.gridPos as { x: number; w: number };
    const unit = ((p.fieldConfig as JsonObject).defaults as JsonObject).unit;
    if ((p.datasource as JsonObject | undefined)?.uid !== DATASOURCE_VARIABLE)
      say("not on the datasource variable");
    if (p.type !== "state-timeline" && typeof unit !== "string") say("no unit");
    if (grid.x + grid.w > 24) say("wider than the 24-column grid");
  }
  t.same(problems, [], `${all.length} panels: datasource variable, units, within the grid`);
});

if (!(await promtoolAvailable())) {
  t.fail(`promtool is not on PATH, so the rule files cannot be checked: ${INSTALL}`);
} else {
  t.test("promtool check rules accepts the alert rules", async (t) => {
    const { code, output } = await promtool(["check", "rules", ALERTS]);
    t.equal(code, 0, output);
    t.match(output, /SUCCESS: \d+ rules found/);
  });

  t.test("promtool test rules: the alert unit tests pass", async (t) => {
    const { code, output } = await promtool(
      ["test", "rules", "alerts.test.yaml"],
      repoPath("deploy/prometheus"),
    );
    t.equal(code, 0, output);
  });

  t.test("every dashboard expression parses as PromQL (as recording rules)", async (t) => {
    const { code, output } = await checkRulesText(asRecordingRules(dashboardUses));
    t.equal(code, 0, output);
    t.match(output, new RegExp(`SUCCESS: ${dashboardUses.length} rules found`));
  });

  t.test("promtool check config accepts prometheus.yml and the rule file it loads", async (t) => {
    const { code, output } = await promtool(["check", "config", PROMETHEUS_CONFIG]);
    t.equal(code, 0, output);
    t.match(output, /SUCCESS: 1 rule files found/);
    t.match(output, /alerts\.yaml/);
  });

  t.test("the checks fail on broken input", async (t) => {
    const expr = rules[0]!.expr.trim();
    const badSyntax = alertsText.replace(expr, () => `${expr} )`);
    t.not(badSyntax, alertsText, "a copy of the rules with an unbalanced parenthesis");
    const syntax = await checkRulesText(badSyntax);
    t.not(syntax.code, 0, "an alert expression with a syntax error fails promtool check rules");
    t.match(syntax.output, /parse error/);

    const badTemplate = alertsText.replace(
      "{{ $labels.backend }}",
      () => "{{ $labels.backend | noSuchFunction }}",
    );
    t.not(badTemplate, alertsText, "a copy of the rules with an unknown template function");
    const template = await checkRulesText(badTemplate);
    t.not(template.code, 0, "an annotation template calling an unknown function fails promtool check rules");
    t.match(template.output, /noSuchFunction/);

    const dashboardCheck = await checkRulesText(
      asRecordingRules([
        {
          where: "fine",
          text: 'sum by (backend) (rate(relevance_gateway_requests_total{backend=~"$backend"}[$__rate_interval]))',
        },
        {
          where: "broken",
          text: "sum by (backend) (rate(relevance_gateway_requests_total[$__rate_interval])",
        },
      ]),
    );
    t.not(dashboardCheck.code, 0, "a dashboard expression with a syntax error fails the PromQL check");
    t.match(dashboardCheck.output, /dashboard:broken.*parse error/);
  });
}
