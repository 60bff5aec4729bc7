/**
 * One HTTP exchange with a vLLM server over an undici dispatcher, bounded by
 * a deadline from the injected clock and by the caller's signal. Either one
 * aborts the undici request, which destroys its socket; vLLM sees the
 * disconnect and cancels the work. The body is always read to the end (or
 * destroyed by the abort), which is what frees the connection for reuse.
 */
import type { Dispatcher } from "undici";
import type { Clock } from "../../util/clock.js";
import { CallerAbortedError, DeadlineExceededError } from "./errors.js";

export interface HttpExchange {
  readonly method: "GET" | "POST";
  /** Including the endpoint's path prefix, e.g. "/classify". */
  readonly path: string;
  /** JSON text, for POST. */
  readonly body?: string;
  readonly headers?: Readonly<Record<string, string>>;
  readonly timeoutMs: number;
  readonly signal?: AbortSignal | undefined;
}

export interface HttpReply {
  readonly status: number;
  readonly text: string;
}

/** `Authorization: Bearer <key>` for a server run with `--api-key`, or no header. */
export function authorizationHeader(apiKey: (() => string) | undefined): Record<string, string> {
  return apiKey === undefined ? {} : { authorization: `Bearer ${apiKey()}` };
}

/**
 * undici's own header and body timers only back up the deadline (they would
 * otherwise default to 300 s); the clock's timer normally fires first.
 */
const SOCKET_TIMER_SLACK_MS = 1_000;

/**
 * Resolves with the status and the body text, whatever the status. Rejects
 * with DeadlineExceededError, CallerAbortedError, or undici's error.
 */
export async function httpExchange(
  dispatcher: Dispatcher,
  x: HttpExchange,
  clock: Clock,
): Promise<HttpReply> {
  const caller = x.signal;
  if (caller?.aborted) throw new CallerAbortedError(caller.reason);
  const controller = new AbortController();
  const onAbort = (): void => controller.abort(new CallerAbortedError(caller?.reason));
  caller?.addEventListener("abort", onAbort, { once: true });
  let finished = false;
  // Node runs due timers before it polls sockets: when the gateway's event
  // loop was busy past the deadline, a response that arrived in time would
  // lose to the timer. One turn of the loop lets pending I/O finish first.
  const timer = clock.setTimeout(() => {
    setImmediate(() => {
      if (!finished) controller.abort(new DeadlineExceededError(x.timeoutMs));
    });
  }, x.timeoutMs);
  try {
    const res = await dispatcher.request({
      method: x.method,
      path: x.path,
      body: x.body ?? null,
      headers: x.headers ?? {},
      signal: controller.signal,
      headersTimeout: x.timeoutMs + SOCKET_TIMER_SLACK_MS,
      bodyTimeout: x.timeoutMs + SOCKET_TIMER_SLACK_MS,
    });
    const text = await res.body.text();
    return { status: res.statusCode, text };
  } catch (err) {
    // undici rejects an aborted request with the signal's reason or its own
    // RequestAbortedError, depending on where the request was; the tagged
    // reason says which of our two causes it was either way.
    if (controller.signal.aborted) throw controller.signal.reason;
    throw err;
  } finally {
    finished = true;
    timer.cancel();
    caller?.removeEventListener("abort", onAbort);
  }
}
