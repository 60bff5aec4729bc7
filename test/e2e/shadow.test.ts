import { execFile } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import t from "tap";
import { cliArgs } from "../helpers/cli.js";
import { doc, type ScoreOutcome } from "../helpers/grpc-client.js";
import { useGateway } from "../helpers/use-gateway.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function counter(text: string, name: string, labels = ""): number {
  const re = new RegExp(
    `^${name}${labels ? `\\{${labels.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}\\}` : ""} (\\S+)$`,
    "m",
  );
  const m = re.exec(text);
  return m ? Number(m[1]) : 0;
}

/** Independent re-implementations, to check the gateway's figures against. */
const er = (row: number[]) => row.reduce((s, p, k) => s + (k + 1) * p, 0);
const argmax = (row: number[]) => row.indexOf(Math.max(...row)) + 1;
function kendallTauB(x: number[], y: number[]): number | undefined {
  let concordant = 0;
  let discordant = 0;
  let tiesX = 0;
  let tiesY = 0;
  for (let i = 0; i < x.length; i++) {
    for (let j = i + 1; j < x.length; j++) {
      const dx = Math.sign(x[i]! - x[j]!);
      const dy = Math.sign(y[i]! - y[j]!);
      if (dx === 0 && dy === 0) continue;
      if (dx === 0) tiesX++;
      else if (dy === 0) tiesY++;
      else if (dx === dy) concordant++;
      else discordant++;
    }
  }
  const denom = Math.sqrt((concordant + discordant + tiesX) * (concordant + discordant + tiesY));
  return denom === 0 ? undefined : (concordant - discordant) / denom;
}

interface LoggedRecord {
  requestId: string;
  student: { probabilities: number[][] };
  teacher: { probabilities: number[][] };
  documents: { id: string; modelText: string | null }[];
  comparison: { labelAgreement: number; meanAbsErDelta: number; kendallTau: number | null };
}

const query = { text: "chocolate chip cookies", locale: "en" };
const docsFor = (r: number) =>
  Array.from({ length: 12 }, (_, i) =>
    doc(`r${r}-d${i}`, {
      title: i % 3 === 0 ? "chocolate chip cookies" : i % 3 === 1 ? "oatmeal cookies" : "garden chairs",
      description: `item ${i}`,
    }),
  );

t.test(
  "shadow at 100%: every student answer is mirrored, compared and logged; figures recompute from the log",
  async (t) => {
    const dir = mkdtempSync(join(tmpdir(), "rg-shadow-"));
    const { client, teacherSim, metricsText, gateway } = await useGateway(t, {
      teacher: {},
      config: {
        routing: { default: "student", shadow: { backend: "teacher", percent: 100 } },
        comparisonLog: { dir },
      },
    });
    const outcomes: ScoreOutcome[] = [];
    for (let r = 0; r < 30; r++)
      outcomes.push(await client.score({ query, documents: docsFor(r), routingKey: `u${r}` }));
    t.ok(
      outcomes.every((o) => o.ok && o.response.route === "bulk" && o.response.model?.backend === "student"),
      "every request answered by the student",
    );
    let text = "";
    for (let i = 0; i < 200; i++) {
      text = await metricsText();
      if (counter(text, "relevance_gateway_shadow_comparisons_total", 'experiment="none"') === 30) break;
      await sleep(25);
    }
    t.equal(
      counter(text, "relevance_gateway_shadow_comparisons_total", 'experiment="none"'),
      30,
      "30 comparisons",
    );
    t.equal(teacherSim!.stats().items, 30 * 12, "the teacher scored every mirrored document");
    await gateway.shutdown(); // flushes the comparison log

    const files = readdirSync(dir);
    const records = files
      .flatMap((f) => readFileSync(join(dir, f), "utf8").split("\n"))
      .filter((l) => l !== "")
      .map((l) => JSON.parse(l) as LoggedRecord);
    t.equal(records.length, 30, "one log record per comparison");

    let documents = 0;
    let agreed = 0;
    let absError = 0;
    const taus: number[] = [];
    for (const rec of records) {
      t.equal(rec.documents.length, 12);
      let recAgreed = 0;
      let recAbs = 0;
      for (let i = 0; i < rec.documents.length; i++) {
        const s = rec.student.probabilities[i]!;
        const te = rec.teacher.probabilities[i]!;
        if (argmax(s) === argmax(te)) recAgreed++;
        recAbs += Math.abs(er(s) - er(te));
      }
      documents += rec.documents.length;
      agreed += recAgreed;
      absError += recAbs;
      t.ok(Math.abs(rec.comparison.labelAgreement - recAgreed / 12) < 1e-9, "record agreement recomputes");
      t.ok(Math.abs(rec.comparison.meanAbsErDelta - recAbs / 12) < 1e-4, "record MAE recomputes");
      const tau = kendallTauB(rec.student.probabilities.map(er), rec.teacher.probabilities.map(er));
      taus.push(tau ?? Number.NaN);
      t.ok(
        tau === undefined
          ? rec.comparison.kendallTau === null
          : Math.abs(tau - rec.comparison.kendallTau!) < 1e-4,
        "record τ recomputes",
      );
    }
    const agreement = agreed / documents;
    const mae = absError / documents;
    const exported = {
      documents: counter(text, "relevance_gateway_shadow_documents_total", 'experiment="none"'),
      agreed: counter(text, "relevance_gateway_shadow_labels_agreed_total", 'experiment="none"'),
      absError: counter(
        text,
        "relevance_gateway_shadow_expected_relevance_abs_error_total",
        'experiment="none"',
      ),
      tauSum: counter(text, "relevance_gateway_shadow_kendall_tau_sum", 'experiment="none"'),
      tauCount: counter(text, "relevance_gateway_shadow_kendall_tau_count", 'experiment="none"'),
    };
    t.equal(exported.documents, documents, "metrics: documents");
    t.ok(
      Math.abs(exported.agreed / exported.documents - agreement) < 1e-9,
      `metrics: label agreement ${agreement.toFixed(3)}`,
    );
    t.ok(Math.abs(exported.absError / exported.documents - mae) < 1e-4, `metrics: MAE ${mae.toFixed(4)}`);
    const meanTau = taus.reduce((a, b) => a + b, 0) / taus.length;
    t.ok(
      Math.abs(exported.tauSum / exported.tauCount - meanTau) < 1e-4,
      `metrics: mean τ ${meanTau.toFixed(3)}`,
    );
    t.ok(agreement > 0.3, `the two simulators mostly agree on labels (${agreement.toFixed(3)})`);
    t.ok(mae > 0.01, "but the teacher's scores differ from the student's");

    const out = mkdtempSync(join(tmpdir(), "rg-report-"));
    const report = await new Promise<string>((resolve, reject) =>
      execFile(
        process.execPath,
        cliArgs("shadow-report", "--json", "--out", out, ...files.map((f) => join(dir, f))),
        { timeout: 60_000 },
        (err, stdout) => (err ? reject(err) : resolve(stdout)),
      ),
    );
    const agg = JSON.parse(report) as {
      requests: number;
      documents: number;
      labelAgreement: { documents: number };
      expectedRelevance: { mae: number };
      kendallTau: { mean: number };
    };
    t.equal(agg.requests, 30, "the report counts 30 comparisons");
    t.equal(agg.documents, documents);
    t.ok(Math.abs(agg.labelAgreement.documents - agreement) < 1e-9, "the report's agreement matches");
    t.ok(Math.abs(agg.expectedRelevance.mae - mae) < 1e-4, "the report's MAE matches");
    t.ok(Math.abs(agg.kendallTau.mean - meanTau) < 1e-4, "the report's mean τ matches");
    for (const chart of ["confusion.svg", "expected-relevance.svg", "kendall-tau.svg"]) {
      t.match(
        readFileSync(join(out, chart), "utf8"),
        /^<svg[^>]*xmlns="http:\/\/www\.w3\.org\/2000\/svg"/,
        `${chart} written`,
      );
    }
  },
);

t.test("a failing teacher: shadow drops are counted and no primary request errs", async (t) => {
  const { client, teacherSim, metricsText } = await useGateway(t, {
    teacher: {},
    config: { routing: { default: "student", shadow: { backend: "teacher", percent: 100 } } },
  });
  teacherSim!.setFaults({ errorRate: 1 });
  const outcomes = await Promise.all(
    Array.from({ length: 40 }, (_, r) => client.score({ query, documents: docsFor(r), routingKey: `k${r}` })),
  );
  t.equal(outcomes.filter((o) => o.ok).length, 40, "every primary request OK");
  let dropped = 0;
  for (let i = 0; i < 200 && dropped < 40; i++) {
    const text = await metricsText();
    dropped = ["unavailable", "queue_full", "error", "deadline"].reduce(
      (s, reason) =>
        s + counter(text, "relevance_gateway_shadow_dropped_total", `experiment="none",reason="${reason}"`),
      0,
    );
    await sleep(25);
  }
  t.equal(dropped, 40, "every shadow request dropped and counted");
});

t.test("a saturated shadow queue sheds shadow work, never the primary", async (t) => {
  const { client, teacherSim, metricsText } = await useGateway(t, {
    teacher: {},
    config: {
      routing: {
        default: "student",
        shadow: {
          backend: "teacher",
          percent: 100,
          maxQueueItems: 24,
          maxConcurrentBatches: 1,
          timeoutMs: 2000,
        },
      },
    },
  });
  teacherSim!.setFaults({ hangRate: 1 });
  const outcomes = await Promise.all(
    Array.from({ length: 30 }, (_, r) => client.score({ query, documents: docsFor(r), routingKey: `s${r}` })),
  );
  t.equal(outcomes.filter((o) => o.ok).length, 30, "every primary request OK while the teacher hangs");
  await sleep(100);
  const text = await metricsText();
  t.ok(
    counter(text, "relevance_gateway_shadow_dropped_total", 'experiment="none",reason="queue_full"') > 0,
    "shadow work beyond its queue bound dropped as queue_full",
  );
  teacherSim!.clearFaults();
});
