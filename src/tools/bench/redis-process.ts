/**
 * A redis-server process for the bench's shared-tier scenario: Debian's
 * `redis-server` (what `npm test` provisions), on a free loopback port,
 * nothing persisted. `kill()` is a crash (SIGKILL); `restart()` brings it
 * back empty on the same port.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { createServer } from "node:net";

export interface RedisProcess {
  readonly url: string;
  readonly port: number;
  kill(): Promise<void>;
  restart(): Promise<void>;
  stop(): Promise<void>;
}

/** On the PATH, as Debian installs it. */
export const REDIS_SERVER_COMMAND = "redis-server";

export async function startRedisServer(): Promise<RedisProcess> {
  let port = 0;
  let child: ChildProcess | undefined;
  for (let attempt = 0; child === undefined; attempt++) {
    port = await freePort();
    try {
      child = await launch(port);
    } catch (err) {
      // Another process took the port between the check and the launch: try another.
      if (attempt >= 4) throw err;
    }
  }
  const kill = async () => {
    const c = child;
    child = undefined;
    if (c === undefined || c.exitCode !== null || c.signalCode !== null) return;
    const exited = new Promise((resolve) => c.once("exit", resolve));
    c.kill("SIGKILL");
    await exited;
  };
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    kill,
    async restart() {
      await kill();
      child = await launch(port);
    },
    stop: kill,
  };
}

function launch(port: number): Promise<ChildProcess> {
  const args = ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"];
  const child = spawn(REDIS_SERVER_COMMAND, args, { stdio: ["ignore", "pipe", "pipe"] });
  return new Promise((resolve, reject) => {
    let seen = "";
    const onData = (chunk: Buffer) => {
      seen = (seen + chunk.toString()).slice(-8192);
      if (seen.includes("Ready to accept connections")) resolve(child);
    };
    child.stdout?.on("data", onData);
    child.stderr?.on("data", onData);
    child.once("error", (err) =>
      reject(
        new Error(
          `cannot run ${REDIS_SERVER_COMMAND} (Debian: apt-get install redis-server): ${err.message}`,
        ),
      ),
    );
    child.once("exit", (code, signal) =>
      reject(new Error(`redis-server exited (${code ?? signal}) before it was ready:\n${seen}`)),
    );
  });
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const a = s.address();
      const port = typeof a === "object" && a !== null ? a.port : 0;
      s.close(() => resolve(port));
    });
  });
}
