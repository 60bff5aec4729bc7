import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { status } from "@grpc/grpc-js";
import t, { type Test } from "tap";
import { stringify } from "yaml";
import { isConfigError, loadConfigFile } from "../../src/config/index.js";
import { createGateway } from "../../src/gateway.js";
import { silentLogger } from "../../src/observability/logger.js";
import { createTritonSim } from "../../src/tools/sim/triton/server.js";
import { doc } from "../helpers/grpc-client.js";
import { AuthScoreClient } from "./auth-client.js";

/**
 * Client keys from secret files, through the real config file and reload
 * path: read at start, read again on a reload (a rotated Secret), and an
 * unreadable file fails the start naming its key but never drops the keys in
 * force on a reload.
 */

function files(t: Test) {
  const dir = mkdtempSync(join(tmpdir(), "auth-reload-"));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const keyFile = join(dir, "search-frontend.key");
  const configFile = join(dir, "gateway.yaml");
  return { keyFile, configFile };
}

function writeConfig(configFile: string, keyFile: string, studentAddress: string): void {
  writeFileSync(
    configFile,
    stringify({
      server: {
        grpc: { host: "127.0.0.1", port: 0 },
        admin: { host: "127.0.0.1", port: 0 },
        reload: { watchFile: false },
      },
      backends: { student: { kind: "triton", endpoints: [studentAddress], model: "relevance_student" } },
      logging: { level: "silent" },
      metrics: { collectDefault: false },
      auth: { anonymous: false, clients: [{ name: "search-frontend", apiKeyFile: keyFile }] },
    }),
  );
}

t.test("a rotated key file applies on reload; an unreadable one keeps the keys in force", async (t) => {
  const { keyFile, configFile } = files(t);
  const sim = await createTritonSim({ port: 0 });
  t.teardown(() => sim.close());
  writeFileSync(keyFile, "first-key-0123456789\n");
  writeConfig(configFile, keyFile, sim.address);
  const gateway = createGateway(loadConfigFile(configFile, {}), { configFile, logger: silentLogger() });
  const { grpcPort } = await gateway.start();
  t.teardown(() => gateway.shutdown());
  const client = new AuthScoreClient(`127.0.0.1:${grpcPort}`);
  t.teardown(() => client.close());
  const score = (key: string) => client.score({ documents: [doc("d1")] }, { apiKey: key });
  const code = async (key: string) => {
    const r = await score(key);
    return r.ok ? "OK" : status[r.code];
  };

  t.equal(await code("first-key-0123456789"), "OK", "the file's key, trimmed");
  writeFileSync(keyFile, "second-key-0123456789");
  t.equal(await code("second-key-0123456789"), "UNAUTHENTICATED", "not before a reload");
  const reload = gateway.control.reloadFile();
  t.ok(reload.ok, "the config itself is unchanged");
  t.equal(await code("second-key-0123456789"), "OK", "the rotated key after the reload");
  t.equal(await code("first-key-0123456789"), "UNAUTHENTICATED", "the old key no longer");

  rmSync(keyFile);
  gateway.control.reloadFile();
  t.equal(await code("second-key-0123456789"), "OK", "a missing file on reload keeps the keys in force");
});

t.test("an auth change needing an unreadable key file is refused whole", async (t) => {
  const { keyFile, configFile } = files(t);
  const sim = await createTritonSim({ port: 0 });
  t.teardown(() => sim.close());
  writeFileSync(keyFile, "first-key-0123456789");
  writeConfig(configFile, keyFile, sim.address);
  const gateway = createGateway(loadConfigFile(configFile, {}), { configFile, logger: silentLogger() });
  t.teardown(() => gateway.shutdown());
  writeConfig(configFile, `${keyFile}.missing`, sim.address);
  const result = gateway.control.reloadFile();
  t.equal(result.ok, false);
  if (!result.ok) {
    t.equal(result.status, 400);
    t.match(result.error, /^auth\.clients\[0\]\.apiKeyFile: cannot read .*\.missing/);
  }
  t.equal(gateway.control.current().auth.clients[0]?.apiKeyFile, keyFile, "the running config stays");
});

t.test("a key file that cannot be read fails the start, naming its key", async (t) => {
  const { keyFile, configFile } = files(t);
  writeConfig(configFile, keyFile, "127.0.0.1:1");
  let error: unknown;
  try {
    createGateway(loadConfigFile(configFile, {}), { configFile, logger: silentLogger() });
  } catch (err) {
    error = err;
  }
  t.ok(isConfigError(error), "a ConfigError: the CLI prints one line");
  t.match((error as Error).message, /^auth\.clients\[0\]\.apiKeyFile: cannot read /);
});
