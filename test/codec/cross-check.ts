/**
 * The cross-checks every message kind goes through, shared by the relevance
 * and KServe test files.
 */

import type { Test } from "tap";
import { prng, type Rand } from "./gen.js";
import {
  type MessageKind,
  normalize,
  pbjsDecode,
  pbjsEncode,
  TYPE_NAMES,
  toPbjs,
  variantRoot,
  withExtras,
} from "./pbjs.js";

export interface Codec<M> {
  kind: MessageKind;
  encode(m: M): Buffer;
  decode(buf: Buffer): M;
  generate(rand: Rand): M;
}

const extrasRoot = variantRoot({ extras: true, packed: true });
const unpackedRoot = variantRoot({ extras: false, packed: false });

/** Runs the standard battery against `seeds` random messages plus the given fixed ones. */
export function crossCheck<M>(t: Test, codec: Codec<M>, fixed: Record<string, M>, seeds = 200): void {
  const cases: [string, M][] = Object.entries(fixed);
  for (let seed = 1; seed <= seeds; seed++) cases.push([`seed ${seed}`, codec.generate(prng(seed))]);

  t.test("ours encode → protobufjs decode", async (t) => {
    for (const [name, m] of cases) {
      t.same(normalize(pbjsDecode(codec.kind, codec.encode(m))), normalize(m), name);
    }
  });

  t.test("protobufjs encode → ours decode", async (t) => {
    for (const [name, m] of cases) {
      t.same(normalize(codec.decode(pbjsEncode(codec.kind, m))), normalize(m), name);
    }
  });

  t.test("byte-identical to protobufjs (canonical encoding)", async (t) => {
    for (const [name, m] of cases) {
      const ours = codec.encode(m);
      const theirs = pbjsEncode(codec.kind, m);
      if (!ours.equals(theirs)) t.fail(`${name}: ${ours.toString("hex")} != ${theirs.toString("hex")}`);
    }
    t.pass(`${cases.length} messages`);
  });

  t.test("unknown fields of every wire type are skipped, at every nesting level", async (t) => {
    const type = extrasRoot.lookupType(TYPE_NAMES[codec.kind]);
    for (const [name, m] of cases) {
      const obj = withExtras(type, toPbjs(m) as Record<string, unknown>, 3);
      const buf = Buffer.from(type.encode(type.fromObject(obj)).finish());
      if (buf.length <= codec.encode(m).length) t.fail(`${name}: no unknown fields were added`);
      t.same(normalize(codec.decode(buf)), normalize(m), name);
    }
  });

  t.test("repeated numbers are accepted unpacked", async (t) => {
    let unpacked = 0;
    for (const [name, m] of cases) {
      const buf = pbjsEncode(codec.kind, m, unpackedRoot);
      if (!buf.equals(codec.encode(m))) unpacked++;
      t.same(normalize(codec.decode(buf)), normalize(m), name);
    }
    // ScoreRequest has no repeated numbers; for the others, make sure the variant really wrote them unpacked.
    if (codec.kind !== "scoreRequest")
      t.ok(unpacked > cases.length / 2, `${unpacked} messages had unpacked fields`);
  });

  t.test("our own round trip, decoding from a view at an odd offset", async (t) => {
    for (const [name, m] of cases) {
      const encoded = codec.encode(m);
      const padded = Buffer.alloc(encoded.length + 3, 0xff);
      encoded.copy(padded, 3);
      t.same(normalize(codec.decode(padded.subarray(3))), normalize(m), name);
    }
  });
}
