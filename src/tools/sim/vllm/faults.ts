/**
 * What the vLLM simulator's injected faults do to a `/classify` or
 * `/v1/completions` call (which calls are hit is decided in faults.ts).
 * Faults apply once the body is valid and before the prompts join the
 * engine, so an injected error or reset never costs engine time.
 */
import type { IncomingMessage } from "node:http";
import type { FaultDecision, FaultInjector } from "../faults.js";
import { badRequest, VllmSimError } from "./errors.js";

export const INJECTED_FAULT_MESSAGE = "injected fault";

/**
 * The 400 vLLM answers when one prompt of a list cannot be taken (a
 * tokenizer or template error becomes a BadRequestError): the whole request
 * fails.
 */
export function poisonError(): VllmSimError {
  return badRequest("the tokenizer cannot encode the input (injected poison)");
}

/** vLLM's answer to every request once its engine has died (e.g. a CUDA error). */
export function sickEngineError(): VllmSimError {
  return new VllmSimError(
    500,
    "InternalServerError",
    "EngineCore encountered an issue. See stack trace (above) for the root cause.",
  );
}

/**
 * Waits out the added latency, then: "error" throws a 500 in vLLM's error
 * shape; "reset" destroys the connection (the client sees the socket close
 * mid-request) and resolves "reset", after which the caller must not answer;
 * "hang" waits until the spec is replaced or cleared (then the call runs
 * normally) or the sim closes (FaultHoldAborted). Aborting `signal` (the
 * client went away) rejects with its reason. Call it right after
 * `faults.decide()`, in the same tick.
 */
export async function faultBeforeWork(
  faults: FaultInjector,
  fault: FaultDecision,
  req: IncomingMessage,
  signal: AbortSignal,
): Promise<"reset" | "go"> {
  const generation = faults.generation;
  const delayMs = faults.delayMs();
  if (delayMs > 0) await faults.wait(delayMs, signal);
  switch (fault) {
    case "error":
      throw new VllmSimError(500, "InternalServerError", INJECTED_FAULT_MESSAGE);
    case "reset":
      req.socket.destroy();
      return "reset";
    case "hang":
      await faults.wait(Number.POSITIVE_INFINITY, signal, generation);
      return "go";
    default:
      return "go";
  }
}

/**
 * The text of a 200 answer broken as `kind` says (one of VLLM_MALFORMED_KINDS):
 * - "bad-json": the first half of the JSON, so the body does not parse;
 * - "wrong-shape": `/classify` items without `probs`, completion choices without `logprobs`;
 * - "missing-items": the last item of `data` / `choices` dropped.
 */
export function malformedJson(body: Record<string, unknown>, kind: string): string {
  const list = Array.isArray(body.data) ? "data" : "choices";
  const items = body[list] as Record<string, unknown>[];
  switch (kind) {
    case "bad-json": {
      const text = JSON.stringify(body);
      return text.slice(0, Math.floor(text.length / 2));
    }
    case "wrong-shape": {
      const field = list === "data" ? "probs" : "logprobs";
      const stripped = items.map(({ [field]: _dropped, ...rest }) => rest);
      return JSON.stringify({ ...body, [list]: stripped });
    }
    case "missing-items":
      return JSON.stringify({ ...body, [list]: items.slice(0, -1) });
    default:
      throw new RangeError(`vllm sim: unknown malformation ${JSON.stringify(kind)}`);
  }
}
