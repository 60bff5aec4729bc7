import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import t from "tap";
import { createTritonSim } from "../../src/tools/sim/triton/server.js";
import { startServeProcess } from "../helpers/cli.js";

/**
 * `serve` loads no tool code: the CLI imports a subcommand's implementation only when it runs
 * (src/cli/commands.ts). The gateway runs as operators run it (the built CLI under `npm test`)
 * with a module-load recorder; once it is ready and stopped, the project's modules it loaded are
 * read back.
 */

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const RECORDER = new URL("../helpers/module-recorder.mjs", import.meta.url).href;

t.test("serve loads the serving modules and none of the tools", async (t) => {
  const sim = await createTritonSim({ port: 0 });
  t.teardown(() => sim.close());
  const log = join(mkdtempSync(join(tmpdir(), "rg-modules-")), "modules.txt");
  const proc = await startServeProcess(
    {
      server: { grpc: { host: "127.0.0.1", port: 0 }, admin: { host: "127.0.0.1", port: 0 } },
      backends: { student: { kind: "triton", endpoints: [sim.address], model: "relevance_student" } },
      metrics: { collectDefault: false },
    },
    { RG_MODULE_LOG: log },
    [`--import=${RECORDER}`],
  );
  const admin = /"admin":"127\.0\.0\.1:(\d+)"/.exec(proc.logs());
  t.ok(admin, "admin port logged");
  // Ready: the gateway has found its backend, so everything a request needs has been loaded.
  const deadline = Date.now() + 30_000;
  let ready = false;
  while (!ready && Date.now() < deadline) {
    ready = await fetch(`http://127.0.0.1:${admin![1]}/readyz`).then(
      (r) => r.ok,
      () => false,
    );
    if (!ready) await new Promise((r) => setTimeout(r, 50));
  }
  t.ok(ready, "serve became ready");
  proc.child.kill("SIGTERM");
  t.equal(await proc.exited, 0, "drained and exited 0");

  // The project's own modules, relative to dist/ (the build) or src/ (run from source).
  const loaded = readFileSync(log, "utf8")
    .split("\n")
    .filter((u) => u.startsWith("file:"))
    .map((u) => fileURLToPath(u))
    .filter((p) => p.startsWith(ROOT) && !p.includes("/node_modules/"))
    .map((p) => p.slice(ROOT.length))
    .filter((p) => p.startsWith("dist/") || p.startsWith("src/"))
    .map((p) => p.replace(/^(dist|src)\//, "").replace(/\.(js|ts)$/, ""));

  for (const serving of ["cli/main", "cli/serve", "gateway", "pipeline", "api/server", "batching/batcher"]) {
    t.ok(loaded.includes(serving), `the recorder saw ${serving}`);
  }
  t.same(
    loaded.filter((m) => m.startsWith("tools/")),
    [],
    "no module under tools/",
  );
  t.same(
    loaded.filter((m) => ["cli/sim", "cli/bench", "cli/tune", "cli/dev", "cli/score"].includes(m)),
    [],
    "no other subcommand's implementation",
  );
});
