/**
 * `/sim/faults`, the simulators' fault control endpoint. It exists only in
 * the simulators (real Triton and vLLM have nothing like it), so operators
 * can break a running simulator during a game day with curl:
 *
 * - GET returns the current spec as JSON (`{}` when no fault is set);
 * - PUT replaces the spec with the JSON body and returns it; a bad body is a
 *   400 `{"error": "<field>: <what is wrong>"}` and leaves the spec as it was;
 * - DELETE clears the spec (releasing hung calls) and returns `{}`.
 *
 * The body's content type is not checked: `curl -d` sends form encoding.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Logger } from "pino";
import type { FaultInjector } from "./faults.js";

export const FAULT_CONTROL_PATH = "/sim/faults";
/** A spec is a few dozen bytes; anything near this is not one. */
const MAX_BODY_BYTES = 64 * 1024;

function reply(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  if (res.destroyed || res.writableEnded) return;
  const text = `${JSON.stringify(body)}\n`;
  res
    .writeHead(status, {
      "content-type": "application/json",
      "content-length": String(Buffer.byteLength(text)),
      ...headers,
    })
    .end(text);
}

function readBody(req: IncomingMessage): Promise<string | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        req.pause();
        resolve(undefined);
        return;
      }
      chunks.push(chunk);
    });
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}

async function put(req: IncomingMessage, res: ServerResponse, faults: FaultInjector, logger?: Logger) {
  const text = await readBody(req);
  if (text === undefined) {
    // The rest of the body is unread: close rather than parse it as the next request.
    reply(res, 413, { error: `fault spec: body exceeds ${MAX_BODY_BYTES} bytes` }, { connection: "close" });
    return;
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    reply(res, 400, { error: `fault spec: invalid JSON: ${(err as Error).message}` });
    return;
  }
  const spec = faults.validate(raw);
  if (typeof spec === "string") {
    reply(res, 400, { error: spec });
    return;
  }
  faults.set(spec);
  logger?.info({ faults: spec }, "fault spec set");
  reply(res, 200, faults.current());
}

/** Answers `req` if it is for FAULT_CONTROL_PATH and returns true; returns false for any other path. */
export function serveFaultControl(
  req: IncomingMessage,
  res: ServerResponse,
  faults: FaultInjector,
  logger?: Logger,
): boolean {
  if ((req.url ?? "").split("?")[0] !== FAULT_CONTROL_PATH) return false;
  switch (req.method) {
    case "GET":
      reply(res, 200, faults.current());
      break;
    case "PUT":
      put(req, res, faults, logger).catch((err: unknown) => reply(res, 500, { error: String(err) }));
      break;
    case "DELETE":
      faults.clear();
      logger?.info("fault spec cleared");
      reply(res, 200, faults.current());
      break;
    default:
      reply(res, 405, { error: "method not allowed" }, { allow: "GET, PUT, DELETE" });
  }
  return true;
}
