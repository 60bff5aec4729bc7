import { mkdtempSync, renameSync, rmSync, unlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import t, { type Test } from "tap";
import { createVllmBackend } from "../../../src/backends/vllm/client.js";
import { createSecretFile } from "../../../src/security/secret-file.js";
import { createVllmSim } from "../../../src/tools/sim/vllm/server.js";
import { systemClock } from "../../../src/util/clock.js";
import { FakeClock } from "../../helpers/fake-clock.js";
import { eventually } from "../../security/tls-helpers.js";

function tempDir(t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), "gateway-secret-"));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Replaces the file the way a Secret update does: a new file renamed over the old one. */
function replace(dir: string, file: string, content: string): void {
  const aside = join(dir, `.next-${Math.random()}`);
  writeFileSync(aside, content);
  renameSync(aside, file);
}

t.test("a secret file is re-read when it changes, at most once per interval", async (t) => {
  const dir = tempDir(t);
  const file = join(dir, "api-key");
  writeFileSync(file, "  key-one\n");
  const clock = new FakeClock();
  const warnings: string[] = [];
  const logger = pino({ level: "info" }, { write: (line: string) => void warnings.push(line) });
  const secret = createSecretFile({ file, configPath: "backends.teacher.apiKeyFile", clock, logger });
  t.equal(secret(), "key-one", "trimmed");

  replace(dir, file, "key-two\n");
  t.equal(secret(), "key-one", "not looked at again within the interval");
  await clock.advance(1000);
  t.equal(secret(), "key-two", "the changed file applies");

  replace(dir, file, "   \n");
  await clock.advance(1000);
  t.equal(secret(), "key-two", "an empty file keeps the last good key");
  unlinkSync(file);
  await clock.advance(1000);
  t.equal(secret(), "key-two", "a missing file keeps the last good key");
  await clock.advance(1000);
  t.equal(secret(), "key-two");
  const warned = warnings.filter((l) => l.includes('"level":40'));
  t.equal(warned.length, 2, "each new problem is logged once");
  t.match(warned[0], /backends\.teacher\.apiKeyFile: .*api-key is empty/);
  t.notOk(warnings.join("\n").includes("key-two"), "the key itself is never logged");

  replace(dir, file, "key-three");
  await clock.advance(1000);
  t.equal(secret(), "key-three", "a repaired file applies");
});

t.test("a secret file must hold one printable token", async (t) => {
  const dir = tempDir(t);
  const make = (content: string) => {
    const file = join(dir, `k-${Math.random()}`);
    writeFileSync(file, content);
    return () =>
      createSecretFile({
        file,
        configPath: "x.apiKeyFile",
        clock: new FakeClock(),
        logger: pino({ level: "silent" }),
      });
  };
  t.throws(make(""), { message: /^x\.apiKeyFile: .* is empty$/ });
  t.throws(make("two words"), { message: /^x\.apiKeyFile: .* must hold one token/ });
  t.throws(make("tab\there"), { message: /^x\.apiKeyFile: .* must hold one token/ });
  t.doesNotThrow(make("sk-abc_123.xyz=\n"));
});

t.test("a rotated key file applies to the vLLM backend's next calls", async (t) => {
  const sim = await createVllmSim({ port: 0, apiKey: "sk-current" });
  t.teardown(() => sim.close());
  const dir = tempDir(t);
  const file = join(dir, "api-key");
  writeFileSync(file, "sk-previous\n");
  const apiKey = createSecretFile({
    file,
    configPath: "backends.teacher.apiKeyFile",
    clock: systemClock,
    logger: pino({ level: "silent" }),
    checkIntervalMs: 50,
  });
  const client = createVllmBackend({
    name: "teacher",
    endpoints: [sim.url],
    model: "relevance-teacher",
    mode: "generate",
    readiness: { intervalMs: 60_000, timeoutMs: 2_000 },
    apiKey,
  });
  t.teardown(() => client[Symbol.asyncDispose]());
  const attempt = () =>
    client
      .endpoints()[0]!
      .infer({ queries: ["q"], documents: ["d"] }, { signal: new AbortController().signal, timeoutMs: 5_000 })
      .then(
        () => true,
        () => false,
      );
  t.equal(await attempt(), false, "the old key is refused");
  replace(dir, file, "sk-current\n");
  t.ok(await eventually(attempt, 10_000), "the new key is used without a restart");
});
