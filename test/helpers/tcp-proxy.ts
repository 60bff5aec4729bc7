import { connect, createServer, type Server, type Socket } from "node:net";
import type { Test } from "tap";

/**
 * A loopback TCP proxy in front of a real server, to make its answers slow
 * or malformed without touching the server:
 * - `pass`: bytes flow both ways unchanged;
 * - `hold`: the server's answers are kept back until the mode changes (a
 *   server that has stopped answering), then delivered;
 * - `garbage`: the server's answers are replaced by bytes that are not its
 *   protocol.
 * `answersHeld` counts the chunks kept back, so a test can wait for one.
 */
export type ProxyMode = "pass" | "hold" | "garbage";

export interface TcpProxy {
  readonly port: number;
  mode: ProxyMode;
  /** Server-to-client chunks currently held back. */
  readonly answersHeld: number;
}

export async function useTcpProxy(t: Test, targetPort: number): Promise<TcpProxy> {
  let mode: ProxyMode = "pass";
  const held: { socket: Socket; chunk: Buffer }[] = [];
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const upstream = connect(targetPort, "127.0.0.1");
    sockets.add(client).add(upstream);
    client.on("data", (chunk) => upstream.write(chunk));
    upstream.on("data", (chunk: Buffer) => {
      if (mode === "hold") held.push({ socket: client, chunk });
      else if (mode === "garbage") client.write("?? not a reply ??\r\n\x00\xff");
      else client.write(chunk);
    });
    const close = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on("close", close).on("error", close);
    upstream.on("close", close).on("error", close);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  const port = typeof address === "object" && address !== null ? address.port : 0;
  t.teardown(
    () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  );
  return {
    port,
    get mode() {
      return mode;
    },
    set mode(next: ProxyMode) {
      mode = next;
      if (next === "hold") return;
      for (const { socket, chunk } of held.splice(0)) if (!socket.destroyed) socket.write(chunk);
    },
    get answersHeld() {
      return held.length;
    },
  };
}
