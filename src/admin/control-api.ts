import type { IncomingMessage, ServerResponse } from "node:http";
import type { Logger } from "../observability/logger.js";
import { type AuditTrail, auditTrail, bearerToken, issuePaths } from "./audit.js";

/** The answer to a config change: applied (with what changed) or refused (with why, naming the field). */
export type AdminResult =
  | {
      readonly ok: true;
      readonly generation: number;
      readonly changes: readonly { readonly path: string; readonly old: unknown; readonly new: unknown }[];
    }
  | {
      readonly ok: false;
      readonly status: 400 | 409;
      readonly error: string;
      readonly issues?: readonly string[];
    };

/** The answer to a cache purge: entries dropped per backend, or why nothing was. */
export type PurgeResult =
  | {
      readonly ok: true;
      /** In-process entries dropped, by backend. */
      readonly purged: Readonly<Record<string, number>>;
      /** Shared-tier entries deleted, by backend (backends with a shared tier only). */
      readonly sharedPurged?: Readonly<Record<string, number>>;
    }
  | { readonly ok: false; readonly status: 404 | 503; readonly error: string };

/** What the admin API can read and change; the gateway's control plane implements it. */
export interface AdminControl {
  /** The config in force, secrets redacted, and its generation. */
  effectiveConfig(): { generation: number; config: unknown };
  /** Each backend's batching limits in force and live state (queue, in flight, adaptive choices). */
  batching(): unknown;
  /** False when no admin token is configured: every write is refused. */
  writesEnabled(): boolean;
  /** Whether `token` is the admin token (constant time). */
  authorize(token: string): boolean;
  /** Applies a JSON merge patch of the config. */
  patch(body: unknown): AdminResult;
  /** Reads the config file again. */
  reloadFile(): AdminResult;
  /** Empties the score cache (both tiers) of one backend, or of every backend when none is named. */
  purgeCache(backend: string | undefined): Promise<PurgeResult>;
}

const MAX_BODY_BYTES = 64 * 1024;

/**
 * The `/admin/...` routes of the admin listener:
 *
 *   GET   /admin/config    the effective config (secrets redacted) and its generation
 *   GET   /admin/batching  batching limits in force and live state, per backend
 *   PATCH /admin/config    a JSON merge patch (RFC 7396) of the live keys
 *   POST  /admin/reload    read the config file again, as on SIGHUP
 *   POST  /admin/cache/purge[?backend=NAME]
 *                          empty the score cache of one backend (of all without `backend`)
 *
 * With an admin token configured, every `/admin/` request needs
 * `authorization: Bearer <token>`, reads too (401 otherwise): the config names
 * endpoints, clients and limits. With none, writes are disabled (403) and the
 * reads stay open. A token that cannot be read (its file deleted) refuses every
 * `/admin/` route with 503 and is logged; it never takes the process down.
 * Every write attempt leaves one audit record (audit.ts). `/metrics`,
 * `/healthz` and `/readyz` are not admin routes: scrapers and probes need no
 * token. Returns false when the path is not an admin route (after the token
 * check, so that which routes exist is not told to anyone).
 */
export function handleAdminRoute(
  control: AdminControl,
  req: IncomingMessage,
  res: ServerResponse,
  path: string,
  logger: Logger,
): boolean {
  const route = `${req.method ?? "GET"} ${path}`;
  const write =
    route === "PATCH /admin/config" || route === "POST /admin/reload" || route === "POST /admin/cache/purge";
  let tokenSet: boolean;
  try {
    tokenSet = control.writesEnabled();
  } catch (err) {
    req.resume();
    logger
      .child({ component: "admin" })
      .error({ err: errorMessage(err), route }, "admin token cannot be read; admin routes refused");
    json(res, 503, { error: `admin token: ${errorMessage(err)}` });
    return true;
  }
  // Writes check the token themselves, so that each attempt is audited.
  if (tokenSet && !write && !readAuthorized(control, req, res)) return true;
  switch (route) {
    case "GET /admin/config":
    case "HEAD /admin/config":
      json(res, 200, control.effectiveConfig());
      return true;
    case "GET /admin/batching":
    case "HEAD /admin/batching":
      json(res, 200, control.batching());
      return true;
    case "PATCH /admin/config":
    case "POST /admin/reload": {
      const log = logger.child({ component: "admin" });
      const audit = auditTrail(req, path, route === "POST /admin/reload" ? "reload" : "patch", log);
      if (!authorized(control, tokenSet, req, res, audit)) return true;
      applyWrite(control, req, res, route, log, audit);
      return true;
    }
    case "POST /admin/cache/purge": {
      const audit = auditTrail(req, path, "cache-purge", logger.child({ component: "admin" }));
      if (!authorized(control, tokenSet, req, res, audit)) return true;
      req.resume();
      const backend = new URL(req.url ?? path, "http://admin").searchParams.get("backend") ?? undefined;
      void control.purgeCache(backend).then((result) => {
        if (result.ok) {
          json(res, 200, result);
          audit.record("applied", 200, { changedPaths: Object.keys(result.purged).map((b) => `cache.${b}`) });
        } else {
          json(res, result.status, { error: result.error });
          audit.record("rejected", result.status);
        }
      });
      return true;
    }
    default:
      if (
        path === "/admin/config" ||
        path === "/admin/batching" ||
        path === "/admin/reload" ||
        path === "/admin/cache/purge"
      ) {
        const allow =
          path === "/admin/config"
            ? "GET, HEAD, PATCH"
            : path === "/admin/reload" || path === "/admin/cache/purge"
              ? "POST"
              : "GET, HEAD";
        res.setHeader("allow", allow);
        json(res, 405, { error: `method ${req.method} not allowed on ${path} (allowed: ${allow})` });
        return true;
      }
      return false;
  }
}

/** A read with a token configured: the right Bearer token, or 401. */
function readAuthorized(control: AdminControl, req: IncomingMessage, res: ServerResponse): boolean {
  const refusal = tokenRefusal(control, bearerToken(req.headers.authorization));
  if (refusal === undefined) return true;
  req.resume();
  res.setHeader("www-authenticate", 'Bearer realm="relevance-gateway-admin"');
  json(res, 401, { error: refusal });
  return false;
}

/** Why `token` is not the admin token, or undefined when it is. */
function tokenRefusal(control: AdminControl, token: string | undefined): string | undefined {
  if (token === undefined) return "authorization: a Bearer admin token is required";
  return control.authorize(token) ? undefined : "authorization: wrong admin token";
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function authorized(
  control: AdminControl,
  tokenSet: boolean,
  req: IncomingMessage,
  res: ServerResponse,
  audit: AuditTrail,
): boolean {
  if (!tokenSet) {
    req.resume();
    json(res, 403, {
      error:
        "admin writes are disabled: no admin token configured " +
        "(set RELEVANCE_GATEWAY_ADMIN_TOKEN or server.admin.tokenFile)",
    });
    audit.record("disabled", 403);
    return false;
  }
  const refusal = tokenRefusal(control, bearerToken(req.headers.authorization));
  if (refusal !== undefined) {
    req.resume();
    res.setHeader("www-authenticate", 'Bearer realm="relevance-gateway-admin"');
    json(res, 401, { error: refusal });
    audit.record("unauthorized", 401);
    return false;
  }
  return true;
}

function applyWrite(
  control: AdminControl,
  req: IncomingMessage,
  res: ServerResponse,
  route: string,
  log: Logger,
  audit: AuditTrail,
): void {
  const refuse = (code: number, body: { error: string }) => {
    json(res, code, body);
    audit.record("rejected", code);
  };
  if (route === "POST /admin/reload") {
    req.resume();
    respond(res, control.reloadFile(), audit);
    return;
  }
  const type = (req.headers["content-type"] ?? "").split(";")[0]!.trim().toLowerCase();
  if (type !== "application/json" && type !== "application/merge-patch+json") {
    req.resume();
    refuse(415, { error: "content-type: must be application/merge-patch+json or application/json" });
    return;
  }
  readBody(req, MAX_BODY_BYTES).then(
    (text) => {
      if (text === undefined) {
        refuse(413, { error: `body: larger than ${MAX_BODY_BYTES} bytes` });
        return;
      }
      let body: unknown;
      try {
        body = JSON.parse(text);
      } catch (err) {
        refuse(400, { error: `body: not valid JSON (${err instanceof Error ? err.message : String(err)})` });
        return;
      }
      respond(res, control.patch(body), audit);
    },
    (err: unknown) => {
      log.warn({ err }, "admin request body could not be read");
      if (!res.headersSent) json(res, 400, { error: "body: could not be read" });
      audit.record("rejected", 400);
    },
  );
}

function respond(res: ServerResponse, result: AdminResult, audit: AuditTrail): void {
  if (result.ok) {
    json(res, 200, result);
    audit.record("applied", 200, {
      changedPaths: result.changes.map((c) => c.path),
      generation: result.generation,
    });
  } else {
    const issues = result.issues ?? [result.error];
    json(res, result.status, { error: result.error, issues });
    audit.record("rejected", result.status, { refusedPaths: issuePaths(issues) });
  }
}

/** The body as text, or undefined when it exceeds `limit` bytes. */
function readBody(req: IncomingMessage, limit: number): Promise<string | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let over = false;
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) over = true;
      else chunks.push(chunk);
    });
    req.on("end", () => resolve(over ? undefined : Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}

function json(res: ServerResponse, code: number, body: unknown): void {
  res.writeHead(code, { "content-type": "application/json", "cache-control": "no-store" });
  res.end(`${JSON.stringify(body)}\n`);
}
