/**
 * The cross-checks every message kind goes through, shared by the relevance
 * and KServe test files.
 */

import type { Test } from "tap";
import type { Rand } from "./gen.js";
import { prng } from "./gen.js";
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
      t.same(normalize(codec.decode(buf)), normalize(m), name);
    }
  });

  t.test("repeated numbers are accepted unpacked", async (t) => {
    for (const [name, m] of cases) {
      const buf = pbjsEncode(codec.kind, m, unpackedRoot);
      t.same(normalize(codec.decode(buf)), normalize(m), name);
    }
  });

  t.test("our own round trip", async (t) => {
    for (const [name, m] of cases) {
      t.same(normalize(codec.decode(codec.encode(m))), normalize(m), name);
    }
  });
}
