import { mkdirSync, renameSync, rmSync, writeFileSync } from "node:fs";
import t, { type Test } from "tap";
import { createTritonSim } from "../../src/tools/sim/triton/server.js";
import { type ServeProcess, startServeProcess } from "../helpers/cli.js";
import { doc, ScoreClient } from "../helpers/grpc-client.js";

/** `serve` reloads its config file on SIGHUP and when the file changes; a bad file keeps the running config. */

function config(simAddress: string, batching: Record<string, unknown>, reload: Record<string, unknown>) {
  return {
    server: {
      grpc: { host: "127.0.0.1", port: 0 },
      admin: { host: "127.0.0.1", port: 0 },
      reload,
    },
    backends: {
      student: { kind: "triton", endpoints: [simAddress], model: "relevance_student", batching },
    },
    metrics: { collectDefault: false },
  };
}

/** Replaces the file the way editors and ConfigMap updates do: write aside, then rename over it. */
function replaceFile(path: string, contents: object | string): void {
  const aside = `${path}.tmp`;
  writeFileSync(
    aside,
    typeof contents === "string" ? contents : JSON.stringify({ logging: { level: "info" }, ...contents }),
  );
  renameSync(aside, path);
}

function adminUrl(proc: ServeProcess): string {
  const m = /"admin":"127\.0\.0\.1:(\d+)"/.exec(proc.logs());
  if (!m) throw new Error("admin port not logged");
  return `http://127.0.0.1:${m[1]}`;
}

async function generation(url: string): Promise<number> {
  const body = (await (await fetch(`${url}/admin/config`)).json()) as { generation: number };
  return body.generation;
}

/** Polls `probe` until it holds (a reload is asynchronous); fails after 15 s. */
async function until(t: Test, what: string, probe: () => Promise<boolean> | boolean): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    if (await probe()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  t.fail(`timed out waiting until ${what}`);
}

async function startStack(t: Test, reload: Record<string, unknown>) {
  const sim = await createTritonSim({ port: 0 });
  const proc = await startServeProcess(config(sim.address, { maxBatchSize: 32 }, reload));
  t.teardown(async () => {
    proc.child.kill("SIGTERM");
    await proc.exited;
    await sim.close();
  });
  return { sim, proc, url: adminUrl(proc) };
}

t.test("a changed file is applied; a bad one is refused and the running config stays", async (t) => {
  const { sim, proc, url } = await startStack(t, { watchFile: true, debounceMs: 50 });
  t.equal(await generation(url), 1);

  replaceFile(proc.file, config(sim.address, { maxBatchSize: 16 }, { watchFile: true, debounceMs: 50 }));
  await until(t, "generation 2", async () => (await generation(url)) === 2);
  // The log travels through a pipe: it may arrive after the admin API has answered.
  await until(t, "the change is logged", () => /config change applied/.test(proc.logs()));
  t.match(
    proc.logs(),
    /"path":"backends\.student\.batching\.maxBatchSize","old":32,"new":16[^\n]*"config change applied"/,
  );

  replaceFile(proc.file, config(sim.address, { maxBatchSize: "lots" }, { watchFile: true, debounceMs: 50 }));
  await until(t, "the bad file is rejected", () => /config change rejected/.test(proc.logs()));
  t.match(proc.logs(), /"error":"backends\.student\.batching\.maxBatchSize: [^"]+"/, "the log says why");
  t.equal(await generation(url), 2, "the running config stays");
  const cfg = (await (await fetch(`${url}/admin/config`)).json()) as {
    config: { backends: { student: { batching: { maxBatchSize: number } } } };
  };
  t.equal(cfg.config.backends.student.batching.maxBatchSize, 16);
  const metrics = await (await fetch(`${url}/metrics`)).text();
  t.match(metrics, /relevance_gateway_config_reloads_total\{source="file",outcome="rejected"\} 1/);
});

t.test("SIGHUP reloads; restart-only changes are logged and not applied", async (t) => {
  const { sim, proc, url } = await startStack(t, { watchFile: false });
  const next = config(sim.address, { maxBatchSize: 8 }, { watchFile: false });
  replaceFile(proc.file, {
    ...next,
    limits: { maxDocumentsPerRequest: 10 },
  });
  proc.child.kill("SIGHUP");
  await until(t, "generation 2", async () => (await generation(url)) === 2);
  // The log travels through a pipe: it may arrive after the admin API has answered.
  await until(t, "the change is logged", () => /config change needs a restart/.test(proc.logs()));
  t.match(
    proc.logs(),
    /"path":"limits\.maxDocumentsPerRequest"[^\n]*"config change needs a restart; not applied"/,
  );
  const cfg = (await (await fetch(`${url}/admin/config`)).json()) as {
    config: {
      limits: { maxDocumentsPerRequest: number };
      backends: { student: { batching: { maxBatchSize: number } } };
    };
  };
  t.equal(cfg.config.backends.student.batching.maxBatchSize, 8, "the live key applied");
  t.equal(cfg.config.limits.maxDocumentsPerRequest, 1000, "the restart-only key kept its running value");
});

t.test(
  "SIGHUP with a hostile file: refused with the cause logged, and the process keeps serving",
  async (t) => {
    const { proc, url } = await startStack(t, { watchFile: false });
    const client = new ScoreClient(proc.target);
    t.teardown(() => client.close());
    const bad = [
      {
        name: "a YAML alias bomb",
        make: () =>
          replaceFile(
            proc.file,
            [
              "a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]",
              "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]",
              "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]",
              "d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]",
              "",
            ].join("\n"),
          ),
        cause: /YAML aliases expand too far/,
      },
      {
        name: "a directory",
        make: () => {
          rmSync(proc.file);
          mkdirSync(proc.file);
        },
        cause: /cannot read config file [^"]*: it is a directory/,
      },
    ];
    for (const [i, b] of bad.entries()) {
      b.make();
      proc.child.kill("SIGHUP");
      await until(t, `${b.name} is refused`, async () => {
        const metrics = await (await fetch(`${url}/metrics`)).text();
        return new RegExp(`config_reloads_total\\{source="file",outcome="rejected"\\} ${i + 1}$`, "m").test(
          metrics,
        );
      });
      await until(t, `the refusal of ${b.name} is logged`, () => b.cause.test(proc.logs()));
      t.match(proc.logs(), new RegExp(`"error":"[^"]*${b.cause.source}[^\\n]*"config change rejected`));
      const scored = await client.score(
        { query: { text: "q", locale: "" }, documents: [doc("d1")] },
        { deadlineMs: 10_000 },
      );
      t.ok(scored.ok, `still answers Score after ${b.name}`);
      t.equal(await generation(url), 1, "the running config stays");
    }
    t.equal(proc.child.exitCode, null, "the process is still running");
  },
);
