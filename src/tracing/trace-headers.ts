/**
 * W3C Trace Context (https://www.w3.org/TR/trace-context/) as it crosses the
 * gateway's edges: read from the client's gRPC metadata, sent to Triton as
 * gRPC metadata and to vLLM as HTTP headers. Only the two header values, never
 * parsed into ids here: that is the tracing SDK's job, and only when tracing is on.
 */

export const TRACEPARENT = "traceparent";
export const TRACESTATE = "tracestate";

/** The W3C trace context headers of one call. */
export interface TraceHeaders {
  /** `version-traceid-parentid-flags`, e.g. `00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01`. */
  readonly traceparent: string;
  /** Vendor entries (`key=value,…`), absent when none came. */
  readonly tracestate?: string | undefined;
}

/** Version 00's length; later versions may append fields after the flags. */
const VERSION_00_LENGTH = 55;
const SHAPE = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}(-[\x21-\x7e]*)?$/;
const ZERO_TRACE_ID = "00000000000000000000000000000000";
const ZERO_SPAN_ID = "0000000000000000";
/** W3C asks vendors to propagate at least 512 characters of tracestate; longer ones are dropped, not cut. */
export const MAX_TRACESTATE_LENGTH = 512;
const PRINTABLE = /^[\x20-\x7e]*$/;

/**
 * The trace context worth passing on, or undefined: a traceparent of the W3C
 * shape (version not ff, ids not all zero) and, with it, a tracestate of
 * printable ASCII up to MAX_TRACESTATE_LENGTH characters (dropped otherwise).
 * The values are kept exactly as received. A shape check on one short string,
 * so it runs on every call that carries a traceparent, tracing on or off.
 */
export function acceptTraceHeaders(
  traceparent: string,
  tracestate: string | undefined,
): TraceHeaders | undefined {
  const m = SHAPE.exec(traceparent);
  if (m === null) return undefined;
  const version = m[1];
  if (version === "ff" || (version === "00" && traceparent.length !== VERSION_00_LENGTH)) return undefined;
  if (m[2] === ZERO_TRACE_ID || m[3] === ZERO_SPAN_ID) return undefined;
  const state =
    tracestate !== undefined && tracestate.length <= MAX_TRACESTATE_LENGTH && PRINTABLE.test(tracestate)
      ? tracestate
      : undefined;
  return { traceparent, tracestate: state };
}
