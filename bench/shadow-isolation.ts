/**
 * Shadow isolation benchmark: the student path's latency with shadow off, with
 * shadow at 100% to a teacher 10× slower than the student, and with shadow at
 * 100% to a teacher that fails every call. Same load, same run, rounds
 * interleaved so machine noise hits every scenario alike; the figures that
 * matter are the ratios to the shadow-off run.
 *
 *   npm run bench:shadow            # 3 rounds × 8 s per scenario
 *   npm run bench:shadow -- --quick # 1 round × 3 s
 *
 * Simulators and gateways run as their own processes (the built CLI in dist/),
 * so the load generator here does not share their event loop.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import * as grpc from "@grpc/grpc-js";
import { scoreServiceDefinition } from "../src/api/server.js";
import type { DocumentMessage, ScoreRequestMessage } from "../src/codec/index.js";

const { values } = parseArgs({
  options: {
    quick: { type: "boolean" },
    seconds: { type: "string" },
    rounds: { type: "string" },
    concurrency: { type: "string" },
  },
});
const seconds = Number(values.seconds ?? (values.quick ? 3 : 8));
const rounds = Number(values.rounds ?? (values.quick ? 1 : 3));
const concurrency = Number(values.concurrency ?? 16);
const CLI = new URL("../dist/cli/main.js", import.meta.url).pathname;
const children: ChildProcess[] = [];

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.listen(0, "127.0.0.1", () => {
      const a = s.address();
      s.close(() => (typeof a === "object" && a ? resolve(a.port) : reject(new Error("no port"))));
    });
  });
}

function start(args: string[], ready: RegExp): Promise<{ child: ChildProcess; match: RegExpExecArray }> {
  const child = spawn(process.execPath, [CLI, ...args], { stdio: ["ignore", "pipe", "pipe"] });
  children.push(child);
  let seen = "";
  return new Promise((resolve, reject) => {
    const onData = (c: Buffer) => {
      seen += c.toString();
      const m = ready.exec(seen);
      if (m) resolve({ child, match: m });
    };
    child.stdout!.on("data", onData);
    child.stderr!.on("data", onData);
    child.once("exit", (code) => reject(new Error(`${args.join(" ")} exited with ${code}: ${seen}`)));
  });
}

function stop(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null) return resolve();
    child.once("exit", () => resolve());
    child.kill("SIGTERM");
  });
}

const documents: DocumentMessage[] = Array.from({ length: 10 }, (_, i) => ({
  id: `d${i}`,
  title: `chocolate chip cookie recipe ${i}`,
  description: "crispy edges, chewy centre",
  imageCaption: "a plate of cookies",
  boardTitles: ["Baking"],
  engagedQueries: ["cookies"],
  linkText: "",
  locale: "en",
}));

async function load(target: string): Promise<{ latencies: number[]; errors: number }> {
  const client = new grpc.Client(target, grpc.credentials.createInsecure());
  const method = scoreServiceDefinition.Score!;
  const latencies: number[] = [];
  let errors = 0;
  const end = performance.now() + seconds * 1000;
  let n = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < end) {
        const request: ScoreRequestMessage = {
          requestId: "",
          query: { text: "chocolate chip cookies", locale: "en" },
          documents,
          routingKey: `user-${n++}`,
          experiment: "",
          priority: 1,
          modelPreference: 0,
        };
        const t0 = performance.now();
        await new Promise<void>((resolve) =>
          client.makeUnaryRequest(
            method.path,
            method.requestSerialize,
            method.responseDeserialize,
            request,
            { deadline: Date.now() + 10_000 },
            (err) => {
              if (err) errors++;
              else latencies.push(performance.now() - t0);
              resolve();
            },
          ),
        );
      }
    }),
  );
  client.close();
  return { latencies, errors };
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}

async function metric(adminPort: number, pattern: RegExp): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${adminPort}/metrics`)).text();
  let sum = 0;
  for (const line of text.split("\n"))
    if (pattern.test(line)) sum += Number(line.slice(line.lastIndexOf(" ") + 1));
  return sum;
}

async function main(): Promise<void> {
  const [studentPort, slowPort, failingPort] = await Promise.all([freePort(), freePort(), freePort()]);
  process.stderr.write("starting simulators…\n");
  // Student: 2 ms + 0.02 ms/item. Slow teacher: every call +30 ms (≈10× the student's batch time).
  await start(
    ["sim", "triton", "--port", String(studentPort), "--metrics-port", "0"],
    /triton simulator: gRPC/,
  );
  await start(
    ["sim", "vllm", "--port", String(slowPort), "--added-latency-ms", "30"],
    /vllm simulator: HTTP/,
  );
  await start(["sim", "vllm", "--port", String(failingPort), "--error-rate", "1"], /vllm simulator: HTTP/);

  process.stderr.write("simulators up\n");
  const scenarios = [
    { name: "shadow off", teacherPort: slowPort, percent: 0 },
    { name: "shadow 100% → teacher 10× slower", teacherPort: slowPort, percent: 100 },
    { name: "shadow 100% → teacher failing every call", teacherPort: failingPort, percent: 100 },
  ];
  const results = new Map(
    scenarios.map((s) => [s.name, { latencies: [] as number[], errors: 0, compared: 0, dropped: 0 }]),
  );
  const dir = mkdtempSync(join(tmpdir(), "rg-bench-shadow-"));
  for (let round = 1; round <= rounds; round++) {
    for (const s of scenarios) {
      const file = join(dir, "gateway.yaml");
      writeFileSync(
        file,
        JSON.stringify({
          server: { grpc: { host: "127.0.0.1", port: 0 }, admin: { host: "127.0.0.1", port: 0 } },
          backends: {
            student: { kind: "triton", endpoints: [`127.0.0.1:${studentPort}`], model: "relevance_student" },
            teacher: {
              kind: "vllm",
              endpoints: [`http://127.0.0.1:${s.teacherPort}`],
              model: "relevance-teacher",
            },
          },
          routing: {
            default: "student",
            ...(s.percent > 0 ? { shadow: { backend: "teacher", percent: s.percent } } : {}),
          },
          logging: { level: "info" },
        }),
      );
      const { child, match } = await start(
        ["serve", "--config", file],
        /"grpc":"127\.0\.0\.1:(\d+)","admin":"127\.0\.0\.1:(\d+)"/,
      );
      process.stderr.write(
        `round ${round}/${rounds} · ${s.name}: gateway on 127.0.0.1:${match[1]}, measuring…\n`,
      );
      // Warm up connections and JIT before measuring.
      await load(`127.0.0.1:${match[1]}`).catch(() => undefined);
      const r = await load(`127.0.0.1:${match[1]}`);
      const acc = results.get(s.name)!;
      acc.latencies.push(...r.latencies);
      acc.errors += r.errors;
      acc.compared += await metric(Number(match[2]), /^relevance_gateway_shadow_comparisons_total\{/);
      acc.dropped += await metric(Number(match[2]), /^relevance_gateway_shadow_dropped_total\{/);
      await stop(child);
      process.stderr.write(
        `round ${round}/${rounds} · ${s.name}: ${r.latencies.length} requests, ${r.errors} errors\n`,
      );
    }
  }

  const base = [...(results.get(scenarios[0]!.name)?.latencies ?? [])].sort((a, b) => a - b);
  const baseP99 = percentile(base, 99);
  const rows = scenarios.map((s) => {
    const r = results.get(s.name)!;
    const sorted = [...r.latencies].sort((a, b) => a - b);
    const p50 = percentile(sorted, 50);
    const p99 = percentile(sorted, 99);
    return {
      scenario: s.name,
      requests: sorted.length,
      errors: r.errors,
      p50,
      p99,
      p99Ratio: p99 / baseP99,
      compared: r.compared,
      dropped: r.dropped,
    };
  });
  console.log(`\n${concurrency} clients × 10-document requests, ${rounds} × ${seconds} s per scenario\n`);
  console.log(
    "| scenario | requests | primary errors | p50 ms | p99 ms | p99 ÷ shadow off | shadow compared | shadow dropped |",
  );
  console.log("|---|---|---|---|---|---|---|---|");
  for (const r of rows) {
    console.log(
      `| ${r.scenario} | ${r.requests} | ${r.errors} | ${r.p50.toFixed(2)} | ${r.p99.toFixed(2)} | ${r.p99Ratio.toFixed(3)} | ${r.compared} | ${r.dropped} |`,
    );
  }
  console.log(`\n${JSON.stringify(rows)}`);
}

main()
  .catch((err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  })
  .finally(() => Promise.all(children.map(stop)));
