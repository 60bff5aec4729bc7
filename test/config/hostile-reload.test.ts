import { execFileSync } from "node:child_process";
import { closeSync, mkdirSync, mkdtempSync, openSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import t, { type Test } from "tap";
import { stringify } from "yaml";
import { loadConfigFile, MAX_CONFIG_FILE_BYTES } from "../../src/config/index.js";
import { createGateway } from "../../src/gateway.js";
import { createTritonSim } from "../../src/tools/sim/triton/server.js";
import { capturedLogger } from "../helpers/captured-logger.js";
import { doc, ScoreClient } from "../helpers/grpc-client.js";

/**
 * A reload of a hostile or broken config file (POST /admin/reload, the file
 * watch) is refused with a log line naming the cause, counted as rejected, and
 * the gateway keeps serving with the config in force. SIGHUP goes through the
 * same path; test/cli/reload.test.ts sends it to a real process.
 */

const TOKEN = "admin-token-for-tests-0123456789";

/** A YAML "billion laughs": each level refers to the one before nine times. */
const ALIAS_BOMB = [
  "a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]",
  "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]",
  "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]",
  "d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]",
  "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]",
  "f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]",
  "g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f]",
  "",
].join("\n");

function configText(simAddress: string, maxBatchSize: number, watchFile: boolean): string {
  return stringify({
    server: {
      grpc: { host: "127.0.0.1", port: 0 },
      admin: { host: "127.0.0.1", port: 0 },
      reload: { watchFile, debounceMs: 50 },
    },
    backends: {
      student: {
        kind: "triton",
        endpoints: [simAddress],
        model: "relevance_student",
        batching: { maxBatchSize },
      },
    },
    logging: { level: "info" },
    metrics: { collectDefault: false },
  });
}

async function stack(t: Test, watchFile: boolean) {
  const dir = mkdtempSync(join(tmpdir(), "hostile-reload-"));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, "gateway.yaml");
  const sim = await createTritonSim({ port: 0 });
  t.teardown(() => sim.close());
  writeFileSync(file, configText(sim.address, 32, watchFile));
  const captured = capturedLogger();
  const gateway = createGateway(loadConfigFile(file, {}), {
    configFile: file,
    logger: captured.logger,
    adminToken: () => TOKEN,
  });
  const { grpcPort, adminPort } = await gateway.start();
  const client = new ScoreClient(`127.0.0.1:${grpcPort}`);
  t.teardown(async () => {
    client.close();
    await gateway.shutdown();
  });
  const adminUrl = `http://127.0.0.1:${adminPort}`;
  const rejectedCount = async () => {
    const text = await (await fetch(`${adminUrl}/metrics`)).text();
    const m = /^relevance_gateway_config_reloads_total\{source="file",outcome="rejected"\} (\S+)$/m.exec(
      text,
    );
    return m ? Number(m[1]) : 0;
  };
  const rejections = () =>
    captured.lines().filter((l) => l.msg === "config change rejected; the running config stays");
  /** A Score request still answers with the config in force. */
  const stillServes = async (t: Test, what: string) => {
    const r = await client.score(
      { query: { text: "q", locale: "" }, documents: [doc("d1")] },
      { deadlineMs: 10_000 },
    );
    t.ok(r.ok, `still answers Score after ${what}`);
    t.equal(gateway.control.generation(), 1, `the running config stays after ${what}`);
    t.equal(gateway.control.current().backends.student?.batching.maxBatchSize, 32);
  };
  return { dir, file, sim, gateway, adminUrl, rejectedCount, rejections, stillServes };
}

async function postReload(adminUrl: string) {
  const res = await fetch(`${adminUrl}/admin/reload`, {
    method: "POST",
    headers: { authorization: `Bearer ${TOKEN}` },
  });
  return { status: res.status, body: (await res.json()) as { error: string } };
}

interface BadFile {
  readonly name: string;
  /** Puts the bad thing where the config file was. */
  readonly make: (file: string) => void;
  /** What the error (log line and answer) must say. */
  readonly cause: RegExp;
}

const BAD_FILES: readonly BadFile[] = [
  {
    name: "a YAML alias bomb",
    make: (file) => writeFileSync(file, ALIAS_BOMB),
    cause: /alias/i,
  },
  {
    name: "binary garbage",
    make: (file) => {
      const bytes = Buffer.alloc(4096);
      // A fixed byte pattern with NULs and invalid UTF-8 sequences (0xC3 0x28, lone 0xFF).
      for (let i = 0; i < bytes.length; i++) bytes[i] = [0x00, 0xff, 0xc3, 0x28, 0x80, 0x7f][i % 6]!;
      writeFileSync(file, bytes);
    },
    cause: /not UTF-8 text/,
  },
  {
    name: "a deleted file",
    make: (file) => rmSync(file),
    cause: /cannot read config file .*ENOENT/,
  },
  {
    name: "a directory in its place",
    make: (file) => {
      rmSync(file);
      mkdirSync(file);
    },
    cause: /is a directory/,
  },
  {
    // Tests run as root, where mode 000 still reads; a FIFO with no writer is the
    // unreadable file that a plain read would block on for ever.
    name: "a FIFO with no writer",
    make: (file) => {
      rmSync(file);
      execFileSync("mkfifo", [file]);
    },
    cause: /not a regular file/,
  },
  {
    name: "a 100 MB file",
    make: (file) => {
      // Sparse: 100 MB as far as the size goes, without writing them.
      const fd = openSync(file, "w");
      closeSync(fd);
      execFileSync("truncate", ["-s", String(100 * 1024 * 1024), file]);
    },
    cause: new RegExp(`104857600 bytes, over the limit of ${MAX_CONFIG_FILE_BYTES} bytes`),
  },
];

t.test("POST /admin/reload refuses every bad file, logs why, counts it and keeps serving", async (t) => {
  const s = await stack(t, false);
  const good = configText(s.sim.address, 32, false);
  let expected = 0;
  for (const bad of BAD_FILES) {
    rmSync(s.file, { recursive: true, force: true });
    writeFileSync(s.file, good);
    bad.make(s.file);
    const res = await postReload(s.adminUrl);
    expected++;
    t.equal(res.status, 400, `${bad.name}: refused`);
    t.match(res.body.error, bad.cause, `${bad.name}: the answer names the cause`);
    t.equal(await s.rejectedCount(), expected, `${bad.name}: counted as rejected`);
    const logged = s.rejections().at(-1);
    t.match(logged?.error, bad.cause, `${bad.name}: the log line names the cause`);
    await s.stillServes(t, bad.name);
  }
  t.equal(s.rejections().length, BAD_FILES.length, "one log line per refused reload");
});

t.test("the file watch refuses a bad file the same way, and applies a good one after it", async (t) => {
  const s = await stack(t, true);
  const waitFor = async (what: string, probe: () => Promise<boolean>) => {
    const deadline = Date.now() + 15_000;
    while (Date.now() < deadline) {
      if (await probe()) return;
      await new Promise((r) => setTimeout(r, 25));
    }
    t.fail(`timed out waiting until ${what}`);
  };
  let expected = 0;
  for (const bad of BAD_FILES) {
    // Written aside and renamed over, or replaced in place: either way one watch event.
    const aside = join(s.dir, "next");
    rmSync(aside, { recursive: true, force: true });
    if (bad.name === "a YAML alias bomb" || bad.name === "binary garbage") {
      bad.make(aside);
      renameSync(aside, s.file);
    } else {
      bad.make(s.file);
    }
    expected++;
    await waitFor(`${bad.name} is rejected`, async () => (await s.rejectedCount()) === expected);
    t.match(s.rejections().at(-1)?.error, bad.cause, `${bad.name}: the log line names the cause`);
    await s.stillServes(t, bad.name);
    // The next bad file replaces a good one, so each is a change the watch sees.
    rmSync(s.file, { recursive: true, force: true });
    writeFileSync(s.file, configText(s.sim.address, 32, true));
    await waitFor(`the good file after ${bad.name} is read`, async () => {
      const text = await (await fetch(`${s.adminUrl}/metrics`)).text();
      return new RegExp(`config_reloads_total\\{source="file",outcome="unchanged"\\} ${expected}$`, "m").test(
        text,
      );
    });
  }
  writeFileSync(s.file, configText(s.sim.address, 16, true));
  await waitFor("a good change applies", async () => s.gateway.control.generation() === 2);
  t.equal(s.gateway.control.current().backends.student?.batching.maxBatchSize, 16);
});
