/**
 * Malformed input must end in a CodecError (or, where the bytes happen to be
 * valid, a result), never another exception, a hang or a runaway allocation.
 */

import t from "tap";
import {
  CodecError,
  DeferredScoreRequest,
  decodeModelInferRequest,
  decodeModelInferResponse,
  decodeScoreRequest,
  decodeScoreResponse,
  encodeModelInferRequest,
  encodeModelInferResponse,
  encodeScoreRequest,
  encodeScoreResponse,
} from "../../src/codec/index.js";
import { Reader } from "../../src/codec/wire.js";
import { int, modelInferRequest, modelInferResponse, prng, scoreRequest, scoreResponse } from "./gen.js";
import type { MessageKind } from "./pbjs.js";

const decoders: Record<MessageKind, (buf: Buffer) => unknown> = {
  scoreRequest: decodeScoreRequest,
  scoreResponse: decodeScoreResponse,
  modelInferRequest: decodeModelInferRequest,
  modelInferResponse: decodeModelInferResponse,
};

/** A few large valid messages per kind, rich in nesting. */
function samples(kind: MessageKind): Buffer[] {
  const out: Buffer[] = [];
  for (let seed = 1; seed <= 4; seed++) {
    const rand = prng(seed * 7919);
    if (kind === "scoreRequest") out.push(encodeScoreRequest(scoreRequest(rand, 3)));
    if (kind === "scoreResponse") out.push(encodeScoreResponse(scoreResponse(rand, 4)));
    if (kind === "modelInferRequest") out.push(encodeModelInferRequest(modelInferRequest(rand)));
    if (kind === "modelInferResponse") out.push(encodeModelInferResponse(modelInferResponse(rand)));
  }
  return out;
}

/** Decodes, returning "ok" or "codec-error"; anything else thrown fails the test. */
function outcome(decode: (buf: Buffer) => unknown, buf: Buffer): "ok" | "codec-error" {
  try {
    decode(buf);
    return "ok";
  } catch (err) {
    if (err instanceof CodecError) return "codec-error";
    throw err;
  }
}

/** Offsets where a top-level field ends: a prefix is a valid message exactly when it stops at one of these (or is empty). */
function fieldBoundaries(buf: Buffer): Set<number> {
  const r = new Reader(buf);
  const ends = new Set([0]);
  while (r.pos < buf.length) {
    r.skipField(r.uint32());
    ends.add(r.pos);
  }
  return ends;
}

for (const kind of Object.keys(decoders) as MessageKind[]) {
  const decode = decoders[kind];

  t.test(`${kind}: every prefix of a valid message`, async (t) => {
    let rejected = 0;
    let prefixes = 0;
    for (const full of samples(kind)) {
      const boundaries = fieldBoundaries(full);
      for (let n = 0; n < full.length; n++) {
        const prefix = full.subarray(0, n);
        const ours = outcome(decode, prefix);
        prefixes++;
        if (ours === "codec-error") rejected++;
        if ((ours === "ok") !== boundaries.has(n))
          t.fail(`prefix of ${n} bytes of a ${full.length}-byte message: ${ours}`);
      }
    }
    t.pass(`${rejected} of ${prefixes} prefixes rejected, the others end on a top-level field boundary`);
  });

  t.test(`${kind}: random bytes`, async (t) => {
    const rand = prng(0xc0dec ^ kind.length);
    const counts = { ok: 0, "codec-error": 0 };
    for (let i = 0; i < 3000; i++) {
      const buf = Buffer.alloc(int(rand, 0, 64));
      for (let j = 0; j < buf.length; j++) buf[j] = int(rand, 0, 255);
      counts[outcome(decode, buf)]++;
    }
    t.ok(counts["codec-error"] > 0, `3000 random inputs: ${JSON.stringify(counts)}`);
  });

  t.test(`${kind}: valid messages with random bytes changed`, async (t) => {
    const rand = prng(0xbad ^ kind.length);
    const bases = samples(kind).filter((b) => b.length > 0);
    const counts = { ok: 0, "codec-error": 0 };
    for (let i = 0; i < 3000; i++) {
      const buf = Buffer.from(bases[i % bases.length]!);
      const flips = int(rand, 1, 4);
      for (let f = 0; f < flips; f++) buf[int(rand, 0, buf.length - 1)] = int(rand, 0, 255);
      const before = process.hrtime.bigint();
      counts[outcome(decode, buf)]++;
      const ms = Number(process.hrtime.bigint() - before) / 1e6;
      if (ms > 250) t.fail(`decoding ${buf.length} bytes took ${ms} ms`);
    }
    t.ok(counts.ok > 0 && counts["codec-error"] > 0, `3000 mutated inputs: ${JSON.stringify(counts)}`);
  });
}

t.test(
  "scoreRequest with deferred documents: the eager decoder's outcome on every prefix and mutation",
  async (t) => {
    const deferred = (buf: Buffer) => new DeferredScoreRequest(buf).documents;
    const rand = prng(0xdefe);
    const inputs: Buffer[] = [];
    for (const full of samples("scoreRequest")) {
      for (let n = 0; n < full.length; n++) inputs.push(full.subarray(0, n));
      for (let i = 0; i < 500; i++) {
        const buf = Buffer.from(full);
        for (let f = int(rand, 1, 4); f > 0; f--) buf[int(rand, 0, buf.length - 1)] = int(rand, 0, 255);
        inputs.push(buf);
      }
    }
    const counts = { ok: 0, "codec-error": 0 };
    for (const buf of inputs) {
      const eager = outcome(decodeScoreRequest, buf);
      const ours = outcome(deferred, buf);
      counts[ours]++;
      if (ours !== eager) t.fail(`${buf.toString("hex")}: eager ${eager}, deferred ${ours}`);
    }
    t.ok(counts.ok > 0 && counts["codec-error"] > 0, `${inputs.length} inputs: ${JSON.stringify(counts)}`);
  },
);

t.test("a declared length far beyond the input allocates nothing and throws", async (t) => {
  // raw_output_contents (field 6) claiming 2 GiB, and bytes_contents deep inside claiming 4 GiB - 1.
  t.throws(() => decodeModelInferResponse(Buffer.from("3280808080080102", "hex")), CodecError);
  t.throws(() => decodeModelInferResponse(Buffer.from("2a062a0442ffffffff0f", "hex")), CodecError);
  // A packed fp32 run claiming 1 GiB of floats with 4 bytes present.
  t.throws(() => decodeScoreResponse(Buffer.from("120712808080800400", "hex")), CodecError);
});
