import protobuf from "protobufjs";
import t, { type Test } from "tap";
import {
  CodecError,
  decodeModelInferRequest,
  decodeModelInferResponse,
  decodeScoreRequest,
  decodeScoreResponse,
} from "../../src/codec/index.js";
import { Reader } from "../../src/codec/wire.js";
import {
  int32Size,
  int64Size,
  varint32Size,
  writeInt32,
  writeInt64,
  writeVarint32,
} from "../../src/codec/wire-writer.js";

function ours(size: number, write: (buf: Buffer) => number): string {
  const buf = Buffer.alloc(size);
  const end = write(buf);
  return buf.subarray(0, end).toString("hex");
}

function theirs(write: (w: protobuf.Writer) => protobuf.Writer): string {
  return Buffer.from(write(protobuf.Writer.create()).finish()).toString("hex");
}

const UINT32 = [0, 1, 127, 128, 300, 16383, 16384, 2 ** 21 - 1, 2 ** 21, 2 ** 28 - 1, 2 ** 28, 2 ** 32 - 1];
const INT32 = [0, 1, -1, 127, 128, -128, 2 ** 31 - 1, -(2 ** 31)];
const INT64 = [
  0,
  1,
  -1,
  127,
  128,
  2 ** 32 - 1,
  2 ** 32,
  2 ** 35,
  2 ** 42,
  2 ** 49,
  2 ** 53 - 1,
  -(2 ** 53 - 1),
  -(2 ** 32),
];

t.test("varints are written as protobufjs writes them, and sized exactly", async (t) => {
  for (const v of UINT32) {
    const hex = ours(10, (b) => writeVarint32(b, 0, v));
    t.equal(
      hex,
      theirs((w) => w.uint32(v)),
      `uint32 ${v}`,
    );
    t.equal(hex.length / 2, varint32Size(v));
  }
  for (const v of INT32) {
    const hex = ours(10, (b) => writeInt32(b, 0, v));
    t.equal(
      hex,
      theirs((w) => w.int32(v)),
      `int32 ${v}`,
    );
    t.equal(hex.length / 2, int32Size(v));
  }
  for (const v of INT64) {
    const hex = ours(10, (b) => writeInt64(b, 0, v));
    t.equal(
      hex,
      theirs((w) => w.int64(v)),
      `int64 ${v}`,
    );
    t.equal(hex.length / 2, int64Size(v));
  }
  t.equal(
    ours(10, (b) => writeInt64(b, 0, -1)),
    `${"ff".repeat(9)}01`,
    "-1 is ten bytes",
  );
});

t.test("varints are read back exactly", async (t) => {
  for (const v of INT64) {
    const r = new Reader(
      Buffer.from(
        theirs((w) => w.int64(v)),
        "hex",
      ),
    );
    t.equal(r.int64(), v, `int64 ${v}`);
    t.equal(r.pos, r.buf.length);
  }
  for (const v of INT32)
    t.equal(
      new Reader(
        Buffer.from(
          theirs((w) => w.int32(v)),
          "hex",
        ),
      ).int32(),
      v,
      `int32 ${v}`,
    );
  for (const v of UINT32)
    t.equal(
      new Reader(
        Buffer.from(
          theirs((w) => w.uint32(v)),
          "hex",
        ),
      ).uint32(),
      v,
    );
  t.equal(
    new Reader(
      Buffer.from(
        theirs((w) => w.uint64(2 ** 53 - 1)),
        "hex",
      ),
    ).uint64(),
    2 ** 53 - 1,
  );
  t.equal(
    new Reader(
      Buffer.from(
        theirs((w) => w.uint64(2 ** 32)),
        "hex",
      ),
    ).bool(),
    true,
    "bool looks at all 64 bits",
  );
  t.equal(
    new Reader(Buffer.from("8080808080808080808000", "hex").subarray(1)).int64(),
    0,
    "non-minimal 10 bytes",
  );
});

function throwsCodecError(t: Test, fn: () => unknown, message: string): void {
  t.throws(fn, CodecError, message);
}

t.test("invalid varints", async (t) => {
  throwsCodecError(t, () => new Reader(Buffer.from("80", "hex")).uint32(), "truncated");
  throwsCodecError(t, () => new Reader(Buffer.from("ffffffff", "hex")).int64(), "truncated after 4 bytes");
  throwsCodecError(
    t,
    () => new Reader(Buffer.from("ff".repeat(10), "hex")).int64(),
    "ten bytes, still continuing",
  );
  throwsCodecError(t, () => new Reader(Buffer.from(`${"ff".repeat(10)}01`, "hex")).uint32(), "eleven bytes");
  t.throws(() => decodeScoreRequest(Buffer.from(`08${"80".repeat(10)}00`, "hex")), { name: "CodecError" });
});

t.test("malformed framing is a CodecError", async (t) => {
  const cases: [string, string][] = [
    ["0a05616263", "string length past the end"],
    ["0a8080808010", "length beyond 32 bits"],
    ["0affffffff0f", "length 2^32-1"],
    ["0b", "start group (wire type 3)"],
    ["0c", "end group (wire type 4)"],
    ["0e", "wire type 6"],
    ["0f", "wire type 7"],
    ["00", "field number 0"],
    ["02", "field number 0, length-delimited"],
    ["f9ffffff0f01020304", "unknown fixed64 truncated"],
    ["fd0f0102", "unknown fixed32 truncated"],
    ["a00f", "unknown varint truncated"],
    ["1a020a05616263", "document's string runs past the document"],
    ["1a020a0161", "a document's string runs past the document's end"],
    ["0a0161ff", "truncated tag after a valid field"],
  ];
  for (const [hex, what] of cases) {
    t.throws(() => decodeScoreRequest(Buffer.from(hex, "hex")), CodecError, what);
  }
  // scores (field 2) → probabilities (field 2, packed) of 3 bytes.
  t.throws(
    () => decodeScoreResponse(Buffer.from("12051203000000", "hex")),
    CodecError,
    "packed float length",
  );
  // outputs (field 5) → contents (field 5) → fp64 (field 7, packed) of 4 bytes.
  t.throws(
    () => decodeModelInferResponse(Buffer.from("2a082a063a0400000000", "hex")),
    CodecError,
    "packed double",
  );
  // inputs (field 5) → shape (field 3, packed) whose varint runs past its length.
  t.throws(
    () => decodeModelInferRequest(Buffer.from("2a051a0280ff01", "hex")),
    CodecError,
    "packed varint overrun",
  );
  // inputs → contents → int32 packed whose last varint continues past the packed length.
  t.throws(
    () => decodeModelInferRequest(Buffer.from("2a052a03120180", "hex")),
    CodecError,
    "packed int32 overrun",
  );
});

t.test("unknown fields of every wire type are skipped", async (t) => {
  // f100 varint, f101 fixed64, f102 length-delimited, f103 fixed32, then request_id = "x".
  const hex = `a006ff01a906${"00".repeat(8)}b20603616263bd06010203040a0178`;
  t.equal(decodeScoreRequest(Buffer.from(hex, "hex")).requestId, "x");
});
