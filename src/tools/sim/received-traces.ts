/**
 * The W3C trace context the simulators received with their inference calls,
 * so tests can check what the gateway propagated (a real Triton or vLLM would
 * continue the trace in its own spans). The last SIM_TRACE_HISTORY are kept
 * and each is logged at debug.
 */
import type { Logger } from "pino";

export const SIM_TRACE_HISTORY = 100;

export interface ReceivedTrace {
  readonly traceparent: string;
  readonly tracestate: string | undefined;
  /** The call's own id: Triton's request `id`, vLLM's `X-Request-Id`; "" when none. */
  readonly id: string;
}

export class ReceivedTraces {
  readonly #list: ReceivedTrace[] = [];
  readonly #logger: Logger | undefined;

  constructor(logger: Logger | undefined) {
    this.#logger = logger;
  }

  /** Records a call's headers; calls without a (single, textual) traceparent are not recorded. */
  record(traceparent: unknown, tracestate: unknown, id: string): void {
    if (typeof traceparent !== "string") return;
    const entry: ReceivedTrace = {
      traceparent,
      tracestate: typeof tracestate === "string" ? tracestate : undefined,
      id,
    };
    this.#list.push(entry);
    if (this.#list.length > SIM_TRACE_HISTORY) this.#list.shift();
    this.#logger?.debug(entry, "trace context received");
  }

  /** Oldest first. */
  list(): ReceivedTrace[] {
    return [...this.#list];
  }
}
