/**
 * The simulators' fault spec, its kinds and its validation (the injector
 * that applies it is in faults.ts, which re-exports all of this).
 */

export interface FaultSpec {
  /** Share of calls (0..1) answered with an error (Triton: UNAVAILABLE "injected fault"; vLLM: HTTP 500 in vLLM's error shape). */
  errorRate?: number;
  /** Added to every call's latency, ms. */
  addedLatencyMs?: number;
  /** Share of calls (0..1) accepted and never answered (until the spec is replaced or cleared, which releases them, or the sim closes, which aborts them). */
  hangRate?: number;
  /** Share of calls (0..1) answered with a malformed body. */
  malformedRate?: number;
  /** Which malformation (see TRITON_MALFORMED_KINDS, VLLM_MALFORMED_KINDS); default: the sim's first kind. */
  malformed?: string;
  /** Share of calls (0..1) whose connection is reset. */
  resetRate?: number;
  /** Share of calls (0..1) delayed by `slowMs` (a gray failure), spread evenly (see faults.ts); needs `slowMs`. */
  slowRate?: number;
  /** The delay of a `slowRate` call, ms, on top of `addedLatencyMs`. */
  slowMs?: number;
  /**
   * A call with this text in one of its documents fails as a model that
   * cannot take that input does, whatever its batch-mates (Triton: INTERNAL
   * from the Python backend; vLLM: HTTP 400).
   */
  poisonMarker?: string;
  /** Every scoring call fails as on a sick GPU (Triton: INTERNAL; vLLM: HTTP 500). */
  failAll?: boolean;
}

export type FaultDecision = "error" | "hang" | "malformed" | "reset" | "ok";
/** What the stats and `sim_injected_faults_total{kind}` count: each decided fault, and calls given added latency. */
export type FaultKind = Exclude<FaultDecision, "ok"> | "latency" | "slow" | "poison" | "internal";
export const FAULT_KINDS: readonly FaultKind[] = [
  "error",
  "hang",
  "malformed",
  "reset",
  "latency",
  "slow",
  "poison",
  "internal",
];

/** What a call's content or the spec alone decide, before any draw (see FaultInjector.inputFault). */
export type InputFault = "poison" | "internal";

/** The longest poison marker accepted. */
export const MAX_POISON_MARKER_CHARS = 1024;

export const TRITON_MALFORMED_KINDS = [
  "missing-output",
  "wrong-shape",
  "wrong-datatype",
  "short-raw",
] as const;
export const VLLM_MALFORMED_KINDS = ["bad-json", "wrong-shape", "missing-items"] as const;

/** The slow-call fault's fields; independent of the bands (a slow call may also be an error or a hang). */
const SLOW_FIELDS = ["slowRate", "slowMs"] as const;

/** The rate fields, in band order (see faults.ts), with the decision each band stands for. */
export const RATES = [
  ["errorRate", "error"],
  ["hangRate", "hang"],
  ["malformedRate", "malformed"],
  ["resetRate", "reset"],
] as const;
const FIELDS = new Set<string>([
  ...RATES.map(([field]) => field),
  "addedLatencyMs",
  "malformed",
  ...SLOW_FIELDS,
  "poisonMarker",
  "failAll",
]);
/** Node's longest timer; a longer one would fire at once. */
const MAX_LATENCY_MS = 2_147_483_647;

/** The spec, or a one-line message naming the offending field. */
export function validateFaultSpec(raw: unknown, malformedKinds: readonly string[]): FaultSpec | string {
  if (typeof raw !== "object" || raw === null || Array.isArray(raw))
    return "fault spec: expected a JSON object";
  const body = raw as Record<string, unknown>;
  for (const key of Object.keys(body)) {
    if (!FIELDS.has(key)) return `${key}: unknown field (expected one of ${[...FIELDS].join(", ")})`;
  }
  const spec: FaultSpec = {};
  let total = 0;
  for (const [field] of RATES) {
    const v = body[field];
    if (v === undefined) continue;
    if (typeof v !== "number" || !(v >= 0 && v <= 1)) {
      return `${field}: must be a number from 0 to 1, got ${JSON.stringify(v)}`;
    }
    spec[field] = v;
    total += v;
  }
  if (total > 1 + 1e-9) {
    return `errorRate + hangRate + malformedRate + resetRate: must add up to at most 1, got ${total}`;
  }
  const latency = body.addedLatencyMs;
  if (latency !== undefined) {
    if (typeof latency !== "number" || !(latency >= 0 && latency <= MAX_LATENCY_MS)) {
      return `addedLatencyMs: must be a number from 0 to ${MAX_LATENCY_MS}, got ${JSON.stringify(latency)}`;
    }
    spec.addedLatencyMs = latency;
  }
  const kind = body.malformed;
  if (kind !== undefined) {
    if (typeof kind !== "string" || !malformedKinds.includes(kind)) {
      const allowed = malformedKinds.map((k) => JSON.stringify(k)).join(", ");
      return `malformed: must be one of ${allowed}, got ${JSON.stringify(kind)}`;
    }
    spec.malformed = kind;
  }
  const marker = body.poisonMarker;
  if (marker !== undefined) {
    if (typeof marker !== "string" || marker.length === 0 || marker.length > MAX_POISON_MARKER_CHARS) {
      return `poisonMarker: must be a string of 1 to ${MAX_POISON_MARKER_CHARS} characters, got ${JSON.stringify(marker).slice(0, 80)}`;
    }
    spec.poisonMarker = marker;
  }
  const failAll = body.failAll;
  if (failAll !== undefined) {
    if (typeof failAll !== "boolean") return `failAll: must be true or false, got ${JSON.stringify(failAll)}`;
    spec.failAll = failAll;
  }
  const slow = validateSlow(body);
  if (typeof slow === "string") return slow;
  return { ...spec, ...slow };
}

function validateSlow(body: Record<string, unknown>): Pick<FaultSpec, "slowRate" | "slowMs"> | string {
  const { slowRate, slowMs } = body;
  const spec: Pick<FaultSpec, "slowRate" | "slowMs"> = {};
  if (slowRate !== undefined) {
    if (typeof slowRate !== "number" || !(slowRate >= 0 && slowRate <= 1)) {
      return `slowRate: must be a number from 0 to 1, got ${JSON.stringify(slowRate)}`;
    }
    spec.slowRate = slowRate;
  }
  if (slowMs !== undefined) {
    if (typeof slowMs !== "number" || !(slowMs >= 0 && slowMs <= MAX_LATENCY_MS)) {
      return `slowMs: must be a number from 0 to ${MAX_LATENCY_MS}, got ${JSON.stringify(slowMs)}`;
    }
    spec.slowMs = slowMs;
  }
  if ((spec.slowRate ?? 0) > 0 && spec.slowMs === undefined) return "slowMs: required with slowRate";
  return spec;
}
