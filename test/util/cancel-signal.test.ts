import t from "tap";
import { CallCancellation, type CancelSignal } from "../../src/util/cancel-signal.js";

t.test("abort runs each listener once, in order, and marks the signal aborted", async (t) => {
  const c = new CallCancellation();
  const calls: string[] = [];
  c.addEventListener("abort", () => calls.push("a"));
  c.addEventListener("abort", () => calls.push("b"));
  t.equal(c.aborted, false);
  c.abort();
  c.abort();
  t.equal(c.aborted, true);
  t.same(calls, ["a", "b"]);
});

t.test("a removed listener is not called; removing an unknown one does nothing", async (t) => {
  const c = new CallCancellation();
  const calls: string[] = [];
  const a = () => calls.push("a");
  c.removeEventListener("abort", a);
  c.addEventListener("abort", a);
  c.addEventListener("abort", () => calls.push("b"));
  c.removeEventListener("abort", a);
  c.abort();
  t.same(calls, ["b"]);
});

t.test("a listener added after the abort is not called (the caller checks `aborted` first)", async (t) => {
  const c = new CallCancellation();
  c.abort();
  let called = false;
  c.addEventListener("abort", () => {
    called = true;
  });
  t.equal(called, false);
  t.equal(c.aborted, true);
});

t.test("AbortSignal satisfies CancelSignal", async (t) => {
  const controller = new AbortController();
  const signal: CancelSignal = controller.signal;
  let called = 0;
  signal.addEventListener("abort", () => called++, { once: true });
  controller.abort();
  t.equal(signal.aborted, true);
  t.equal(called, 1);
});
