import t from "tap";
import { capClientText, MAX_ECHOED_CHARS, quoteClientText } from "../../src/util/client-text.js";

t.test(
  "capClientText: short strings unchanged, long ones cut to the cap with the count left out",
  async (t) => {
    t.equal(MAX_ECHOED_CHARS, 128);
    t.equal(capClientText(""), "");
    t.equal(capClientText("a".repeat(128)), "a".repeat(128), "exactly the cap is kept");
    t.equal(capClientText("a".repeat(129)), `${"a".repeat(128)}…(+1 chars)`);
    t.equal(capClientText("x".repeat(1024 * 1024)), `${"x".repeat(128)}…(+1048448 chars)`);
    t.equal(capClientText("abcdef", 3), "abc…(+3 chars)", "another cap");
  },
);

t.test("capClientText never splits a surrogate pair", async (t) => {
  // 127 ASCII units, then a pair at units 127–128: cutting at 128 would keep half of it.
  const s = `${"a".repeat(127)}😀tail`;
  const out = capClientText(s);
  t.equal(out, `${"a".repeat(127)}…(+6 chars)`);
  t.notOk(/\p{Cs}/u.test(out), "no lone surrogate");
  t.equal(
    capClientText(`${"a".repeat(126)}😀tail`),
    `${"a".repeat(126)}😀…(+4 chars)`,
    "a whole pair is kept",
  );
});

t.test("quoteClientText: a JSON literal, the marker outside the quotes", async (t) => {
  t.equal(quoteClientText('q"\n'), '"q\\"\\n"');
  t.equal(quoteClientText("e".repeat(200)), `"${"e".repeat(128)}"…(+72 chars)`);
  t.equal(quoteClientText("abcd", 2), '"ab"…(+2 chars)');
});
