/**
 * The audit trail of the admin API: one log record per write attempt
 * (`PATCH /admin/config`, `POST /admin/reload`), whatever its outcome,
 * refused credentials included, so that who changed what, and who tried,
 * can be read back from the logs.
 *
 *   {"audit":"admin","action":"patch","method":"PATCH","path":"/admin/config",
 *    "remoteAddress":"10.0.3.7","outcome":"applied","status":200,
 *    "tokenFingerprint":"3f2a9c1e","changedPaths":["backends.student.batching.maxBatchSize"],
 *    "generation":4,"msg":"admin write"}
 *
 * The token itself is never logged: its fingerprint (the first 8 hex digits
 * of its SHA-256) tells which credential was used, e.g. a stale one after a
 * rotation, without disclosing it. Values are not logged either, only the
 * paths of what changed (the `config change applied` lines carry the values
 * of the live keys); a refused change names the refused paths, not the
 * validation message, which may quote a value.
 */

import { createHash } from "node:crypto";
import type { IncomingMessage } from "node:http";
import type { Logger } from "../observability/logger.js";

/** How an admin write ended. */
export type AuditOutcome =
  /** Validated and applied (possibly with no change: `changedPaths` is then empty). */
  | "applied"
  /** Refused as invalid, restart-only, unreadable or of the wrong type; nothing changed. */
  | "rejected"
  /** No token, or a wrong one. */
  | "unauthorized"
  /** Writes are disabled: no admin token is configured. */
  | "disabled";

export interface AuditDetails {
  readonly changedPaths?: readonly string[];
  readonly refusedPaths?: readonly string[];
  readonly generation?: number;
}

/** Records the end of one admin write. */
export interface AuditTrail {
  record(outcome: AuditOutcome, status: number, details?: AuditDetails): void;
}

/** First 8 hex digits of the SHA-256 of `token`: identifies a credential, discloses nothing usable. */
export function tokenFingerprint(token: string): string {
  return createHash("sha256").update(token, "utf8").digest("hex").slice(0, 8);
}

/** The bearer token of an `authorization` header, or undefined when there is none in that form. */
export function bearerToken(header: string | undefined): string | undefined {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header ?? "");
  return match?.[1];
}

/** The trail of one write request; `action` names it in the record ("patch", "reload"). */
export function auditTrail(req: IncomingMessage, path: string, action: string, logger: Logger): AuditTrail {
  const token = bearerToken(req.headers.authorization);
  const base = {
    audit: "admin",
    action,
    method: req.method ?? "",
    path,
    remoteAddress: req.socket.remoteAddress ?? "",
    // A header that is present but not a bearer token is recorded as such, not fingerprinted.
    tokenFingerprint:
      token !== undefined ? tokenFingerprint(token) : req.headers.authorization ? "malformed" : null,
  };
  let done = false;
  return {
    record(outcome, status, details = {}) {
      if (done) return;
      done = true;
      const fields = {
        ...base,
        outcome,
        status,
        ...(details.changedPaths ? { changedPaths: details.changedPaths } : {}),
        ...(details.refusedPaths ? { refusedPaths: details.refusedPaths } : {}),
        ...(details.generation !== undefined ? { generation: details.generation } : {}),
      };
      if (outcome === "unauthorized" || outcome === "disabled") logger.warn(fields, "admin write refused");
      else logger.info(fields, "admin write");
    },
  };
}

/** The field paths named by refusal issues ("path: message"), without the messages. */
export function issuePaths(issues: readonly string[]): string[] {
  return issues.map((issue) => {
    const colon = issue.indexOf(": ");
    return colon > 0 ? issue.slice(0, colon) : "(config)";
  });
}
