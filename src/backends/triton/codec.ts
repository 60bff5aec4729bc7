/**
 * Tensor packing for the Triton hot path: BYTES inputs in, FP32 scores out.
 */
import type { ModelInferResponseMessage } from "../../codec/index.js";
import { GatewayError } from "../../util/gateway-error.js";

/**
 * Packs strings as one BYTES tensor: per element a uint32 LE byte length and
 * the UTF-8 bytes, concatenated. Sizes everything first, then allocates once
 * and writes in place: no per-element Buffers on the hot path. Lone
 * surrogates are sized and written as U+FFFD (3 bytes), consistently.
 */
export function packBytesTensor(texts: readonly string[]): Buffer {
  const n = texts.length;
  const lengths = new Uint32Array(n);
  let total = 4 * n;
  for (let i = 0; i < n; i++) {
    const len = Buffer.byteLength(texts[i]!, "utf8");
    lengths[i] = len;
    total += len;
  }
  const buf = Buffer.allocUnsafe(total);
  let off = 0;
  for (let i = 0; i < n; i++) {
    const len = lengths[i]!;
    buf.writeUInt32LE(len, off);
    off += 4;
    if (len > 0) off += buf.write(texts[i]!, off, len, "utf8");
  }
  return buf;
}

export type OutputKind = "logits" | "probabilities";

export interface OutputSpec {
  /** The output tensor's name, e.g. "LOGITS". */
  readonly name: string;
  readonly kind: OutputKind;
  /** Pairs in the batch. */
  readonly n: number;
  /** "backend student on 127.0.0.1:8001", for messages. */
  readonly where: string;
}

const LABELS = 5;

function malformed(spec: OutputSpec, problem: string): GatewayError {
  return new GatewayError("BACKEND_MALFORMED_RESPONSE", `${spec.where}: triton returned ${problem}`);
}

/**
 * Finds the output by name (Triton's order is not the requested order),
 * checks it is FP32 with shape [n, 5] and n × 5 × 4 raw bytes, and returns
 * n × 5 probabilities: a stable softmax of each row for logits, or the rows
 * validated (finite, ≥ 0, positive sum) and renormalised for probabilities.
 */
export function readProbabilities(res: ModelInferResponseMessage, spec: OutputSpec): Float32Array {
  const { name, n } = spec;
  const index = res.outputs.findIndex((o) => o.name === name);
  if (index < 0) {
    const got = res.outputs.map((o) => `'${o.name}'`).join(", ") || "none";
    throw malformed(spec, `no output '${name}' (outputs: ${got})`);
  }
  const out = res.outputs[index]!;
  if (out.datatype !== "FP32") {
    throw malformed(spec, `output '${name}' with datatype ${out.datatype || "(empty)"}, expected FP32`);
  }
  if (out.shape.length !== 2 || out.shape[0] !== n || out.shape[1] !== LABELS) {
    throw malformed(spec, `output '${name}' with shape [${out.shape.join(",")}], expected [${n},${LABELS}]`);
  }
  const raw = res.rawOutputContents[index];
  if (!raw) throw malformed(spec, `no raw_output_contents for output '${name}'`);
  if (raw.byteLength !== n * LABELS * 4) {
    const want = n * LABELS * 4;
    throw malformed(
      spec,
      `${raw.byteLength} bytes for output '${name}', expected ${want} (FP32 [${n},${LABELS}])`,
    );
  }
  // The codec's views alias the received frame at any offset; DataView reads
  // float32 LE without an alignment requirement.
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const probs = new Float32Array(n * LABELS);
  const row = new Float64Array(LABELS);
  for (let i = 0; i < n; i++) {
    const base = i * LABELS;
    for (let k = 0; k < LABELS; k++) {
      const v = view.getFloat32((base + k) * 4, true);
      if (!Number.isFinite(v) || (spec.kind === "probabilities" && v < 0)) {
        const what = spec.kind === "probabilities" ? "probability" : "logit";
        throw malformed(spec, `an invalid ${what} ${v} in output '${name}' row ${i}`);
      }
      row[k] = v;
    }
    if (spec.kind === "logits") softmaxInto(row, probs, base);
    else if (!normaliseInto(row, probs, base)) {
      throw malformed(spec, `an all-zero probability row ${i} in output '${name}'`);
    }
  }
  return probs;
}

/** Numerically stable softmax: subtract the row max before exponentiating. */
function softmaxInto(row: Float64Array, out: Float32Array, base: number): void {
  let max = row[0]!;
  for (let k = 1; k < LABELS; k++) max = Math.max(max, row[k]!);
  let sum = 0;
  for (let k = 0; k < LABELS; k++) {
    const e = Math.exp(row[k]! - max);
    row[k] = e;
    sum += e;
  }
  for (let k = 0; k < LABELS; k++) out[base + k] = row[k]! / sum;
}

/** Rescales a non-negative row to sum to 1 (the model's own rounding is not trusted); false for a zero row. */
function normaliseInto(row: Float64Array, out: Float32Array, base: number): boolean {
  let sum = 0;
  for (let k = 0; k < LABELS; k++) sum += row[k]!;
  if (!(sum > 0) || !Number.isFinite(sum)) return false;
  for (let k = 0; k < LABELS; k++) out[base + k] = row[k]! / sum;
  return true;
}
