import type { Test } from "tap";
import { startRedisServer } from "../../src/tools/bench/redis-process.js";

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

export async function useRedisServer(t: Test): Promise<RedisServer> {
  const server = await startRedisServer();
  t.teardown(() => server.stop());
  return { port: server.port, url: server.url, stop: server.kill, start: server.restart };
}
