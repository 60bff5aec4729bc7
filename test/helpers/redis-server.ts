import { type ChildProcess, spawn } from "node:child_process";
import { createServer } from "node:net";
import type { Test } from "tap";

/**
 * A real Redis server (Debian's `redis-server`, provisioned by
 * scripts/provision-test-tools.sh) on a free loopback port, with nothing
 * persisted; stopped when the test ends. `stop()` and `start()` kill it and
 * bring it back on the same port, empty, for fault tests.
 */
export interface RedisServer {
  readonly port: number;
  readonly url: string;
  /** Kills the server (SIGKILL: a crash, not a shutdown) and waits for it to exit. */
  stop(): Promise<void>;
  /** Starts it again on the same port. */
  start(): Promise<void>;
}

export const REDIS_SERVER = process.env.REDIS_SERVER ?? "redis-server";

export async function useRedisServer(t: Test): Promise<RedisServer> {
  let port = 0;
  let child: ChildProcess | undefined;
  for (let attempt = 0; ; attempt++) {
    port = await freePort();
    try {
      child = await launch(port);
      break;
    } catch (err) {
      // Another process took the port between the check and the launch: try another.
      if (attempt >= 4) throw err;
    }
  }
  const server: RedisServer = {
    port,
    url: `redis://127.0.0.1:${port}`,
    async stop() {
      const c = child;
      child = undefined;
      if (c === undefined || c.exitCode !== null) return;
      const exited = new Promise((resolve) => c.once("exit", resolve));
      c.kill("SIGKILL");
      await exited;
    },
    async start() {
      if (child !== undefined) throw new Error("redis-server is already running");
      child = await launch(port);
    },
  };
  t.teardown(() => server.stop());
  return server;
}

function launch(port: number): Promise<ChildProcess> {
  const args = [
    "--port",
    String(port),
    "--bind",
    "127.0.0.1",
    "--save",
    "",
    "--appendonly",
    "no",
    "--daemonize",
    "no",
    "--loglevel",
    "notice",
  ];
  const child = spawn(REDIS_SERVER, args, { stdio: ["ignore", "pipe", "pipe"] });
  return new Promise((resolve, reject) => {
    let output = "";
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes("Ready to accept connections")) {
        child.stdout?.off("data", onData);
        child.stdout?.resume();
        child.off("exit", onExit);
        resolve(child);
      }
    };
    const onExit = (code: number | null) =>
      reject(new Error(`redis-server exited (${code}) before it was ready:\n${output.slice(-2000)}`));
    child.once("error", (err) =>
      reject(new Error(`cannot run ${REDIS_SERVER} (npm test provisions it): ${err.message}`)),
    );
    child.once("exit", onExit);
    child.stdout?.on("data", onData);
    child.stderr?.on("data", (chunk: Buffer) => {
      output += chunk.toString();
    });
  });
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const address = s.address();
      const port = typeof address === "object" && address !== null ? address.port : 0;
      s.close(() => resolve(port));
    });
  });
}
