import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { Registry } from "prom-client";
import type { Logger } from "../observability/logger.js";
import type { HttpsServerTls } from "../security/https-tls.js";
import { type AdminControl, handleAdminRoute } from "./control-api.js";

/** What the admin endpoints report; read on each request. */
export interface AdminState {
  /** Why the gateway is not ready (empty when ready). */
  notReadyReasons(): string[];
  /** The `/admin/...` API; absent: those routes answer 404. */
  readonly control?: AdminControl | undefined;
}

/**
 * The admin HTTP listener (never exposed to clients): Prometheus `/metrics`,
 * `/healthz` (the process is alive) and `/readyz` (the default backend is
 * ready and the gateway is not shutting down), and the `/admin/...` API
 * (control-api.ts).
 *
 * Plain HTTP by default; with `tls` (`server.admin.tls`, see
 * security/https-tls.ts) HTTPS, optionally requiring a client certificate,
 * with certificate files re-read while the server listens.
 */
export function createAdminServer(
  registry: Registry,
  state: AdminState,
  logger: Logger,
  tls?: HttpsServerTls | undefined,
): Server {
  const log = logger.child({ component: "admin" });
  function adminHandler(req: IncomingMessage, res: ServerResponse): void {
    const path = (req.url ?? "/").split("?")[0] ?? "/";
    if (
      path.startsWith("/admin/") &&
      state.control &&
      handleAdminRoute(state.control, req, res, path, logger)
    ) {
      return;
    }
    if (req.method !== "GET" && req.method !== "HEAD") {
      send(res, 405, "text/plain", "method not allowed\n");
      return;
    }
    switch (path) {
      case "/metrics":
        registry.metrics().then(
          (text) => send(res, 200, registry.contentType, text),
          (err: unknown) => {
            log.error({ err }, "metrics collection failed");
            send(res, 500, "text/plain", "metrics collection failed\n");
          },
        );
        return;
      case "/healthz":
        send(res, 200, "text/plain", "ok\n");
        return;
      case "/readyz": {
        const reasons = state.notReadyReasons();
        send(
          res,
          reasons.length === 0 ? 200 : 503,
          "application/json",
          `${JSON.stringify({ ready: reasons.length === 0, reasons })}\n`,
        );
        return;
      }
      default:
        send(
          res,
          404,
          "text/plain",
          "not found: try /metrics, /healthz, /readyz, /admin/config or /admin/batching\n",
        );
    }
  }
  if (tls === undefined) return createServer(adminHandler);
  const server = createHttpsServer(tls.serverOptions(), adminHandler);
  tls.watch(server);
  return server;
}

function send(res: ServerResponse, code: number, contentType: string, body: string): void {
  res.writeHead(code, { "content-type": contentType, "cache-control": "no-store" });
  res.end(body);
}

export function listen(server: Server, host: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      const addr = server.address();
      resolve(typeof addr === "object" && addr ? addr.port : port);
    });
  });
}
