/**
 * node:http plumbing for the vLLM simulator: bounded JSON bodies and
 * responses that are never written to a connection that is already gone.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { badRequest, VllmSimError } from "./errors.js";

/** The largest request body accepted; bigger ones get 413. */
export const DEFAULT_MAX_BODY_BYTES = 32 * 1024 * 1024;

function tooLarge(limit: number): VllmSimError {
  return new VllmSimError(413, "BadRequestError", `Request body exceeds ${limit} bytes.`);
}

/** Reads and parses a JSON body of at most `limit` bytes; throws a VllmSimError (413 or 400). */
export async function readJson(req: IncomingMessage, limit: number): Promise<unknown> {
  const declared = Number(req.headers["content-length"]);
  if (declared > limit) throw tooLarge(limit);
  const text = (await readBody(req, limit)).toString("utf8");
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw badRequest(`JSON decode error: ${(err as Error).message}`);
  }
}

/**
 * Collects the body by events rather than `for await`, whose early exit
 * would destroy the socket before the 413 could be written: an oversized
 * body is left paused, and the caller answers with `connection: close`.
 */
function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const done = () => {
      req.off("data", onData);
      req.off("end", onEnd);
      req.off("error", onError);
      req.off("close", onClose);
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size <= limit) {
        chunks.push(chunk);
        return;
      }
      done();
      req.pause();
      reject(tooLarge(limit));
    };
    const onEnd = () => {
      done();
      resolve(Buffer.concat(chunks));
    };
    const onError = (err: Error) => {
      done();
      reject(err);
    };
    const onClose = () => {
      done();
      reject(new Error("request closed before its body ended"));
    };
    req.on("data", onData);
    req.on("end", onEnd);
    req.on("error", onError);
    req.on("close", onClose);
  });
}

function writable(res: ServerResponse): boolean {
  return !res.destroyed && !res.writableEnded;
}

export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  if (!writable(res)) return;
  const text = JSON.stringify(body);
  res
    .writeHead(status, {
      "content-type": "application/json",
      "content-length": String(Buffer.byteLength(text)),
      ...headers,
    })
    .end(text);
}

export function sendText(res: ServerResponse, status: number, contentType: string, text: string): void {
  if (!writable(res)) return;
  res
    .writeHead(status, { "content-type": contentType, "content-length": String(Buffer.byteLength(text)) })
    .end(text);
}

/** A bodyless answer, as vLLM's /health gives. */
export function sendEmpty(res: ServerResponse, status: number): void {
  if (!writable(res)) return;
  res.writeHead(status, { "content-length": "0" }).end();
}
