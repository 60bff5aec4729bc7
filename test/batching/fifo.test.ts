import t from "tap";
import { Fifo } from "../../src/batching/fifo.js";
import { heapAfterGc } from "../helpers/heap.js";

/** Drains `q` through shift, in order. */
function drain<T>(q: Fifo<T>): T[] {
  const out: T[] = [];
  for (let x = q.shift(); x !== undefined; x = q.shift()) out.push(x);
  return out;
}

t.test("first in, first out: push, peek, shift and length", async (t) => {
  const q = new Fifo<string>();
  t.equal(q.length, 0);
  t.equal(q.peek(), undefined, "nothing to peek at in an empty queue");
  t.equal(q.shift(), undefined, "nothing to shift from an empty queue");
  t.equal(q.length, 0, "shifting an empty queue leaves it empty");
  q.push("a");
  q.push("b");
  q.push("c");
  t.equal(q.length, 3);
  t.equal(q.peek(), "a", "peek shows the oldest");
  t.equal(q.length, 3, "…without taking it");
  t.equal(q.shift(), "a");
  t.equal(q.peek(), "b");
  t.equal(q.length, 2);
  q.push("d");
  t.same(drain(q), ["b", "c", "d"]);
  t.equal(q.length, 0);
  t.equal(q.peek(), undefined);
  q.push("e");
  t.equal(q.peek(), "e", "a queue emptied by shifts takes new items");
  t.equal(q.length, 1);
});

t.test("iteration yields the queued items, oldest first, without taking them", async (t) => {
  const q = new Fifo<number>();
  t.same([...q], [], "an empty queue yields nothing");
  for (let i = 1; i <= 5; i++) q.push(i);
  q.shift();
  q.shift();
  t.same([...q], [3, 4, 5], "the items shifted are not yielded");
  t.equal(q.length, 3);
  t.same([...q], [3, 4, 5], "iterating twice yields the same");
});

t.test("retain keeps the accepted items in order and drops the rest", async (t) => {
  const q = new Fifo<number>();
  for (let i = 1; i <= 10; i++) q.push(i);
  q.shift(); // 1 is gone: retain does not bring it back
  const seen: number[] = [];
  q.retain((x) => {
    seen.push(x);
    return x % 3 !== 0;
  });
  t.same(seen, [2, 3, 4, 5, 6, 7, 8, 9, 10], "every queued item is judged once, oldest first");
  t.equal(q.length, 6);
  t.same([...q], [2, 4, 5, 7, 8, 10]);
  q.push(11);
  t.same(drain(q), [2, 4, 5, 7, 8, 10, 11], "new items go after the retained ones");

  const all = new Fifo<number>();
  for (let i = 0; i < 4; i++) all.push(i);
  all.retain(() => true);
  t.same([...all], [0, 1, 2, 3], "keeping everything changes nothing");
  all.retain(() => false);
  t.equal(all.length, 0, "keeping nothing empties the queue");
  t.equal(all.peek(), undefined);
});

t.test("order holds across the compaction of a long consumed prefix", async (t) => {
  const q = new Fifo<number>();
  let next = 0;
  let expected = 0;
  let wrong = 0;
  // A backlog of 3000, then a steady stream: the head passes 1024 and half the array many times.
  for (; next < 3000; next++) q.push(next);
  for (let round = 0; round < 20_000; round++) {
    q.push(next++);
    if (q.peek() !== expected) wrong++;
    if (q.shift() !== expected++) wrong++;
    if (q.length !== 3000) wrong++;
  }
  t.equal(wrong, 0, "every item came out in order and the length stayed 3000");
  t.same(drain(q).length, 3000);
  t.equal(expected + 3000, next);
});

t.test("a queue that is never empty does not keep the slots of the items it has shifted", async (t) => {
  // Memory must follow what is queued, not what has passed through: a busy
  // queue may never be empty for the life of the process. Two patterns: one
  // item at a time, and a backlog (3000) that arrived at once before a steady stream.
  for (const backlog of [1, 3000]) {
    const q = new Fifo<number>();
    for (let i = 0; i < backlog; i++) q.push(i);
    const before = heapAfterGc();
    // 2M items through the queue: 16 MB of slots (8 bytes each) if the consumed ones were kept.
    for (let i = 0; i < 2_000_000; i++) {
      q.push(i);
      q.shift();
    }
    const grownBytes = heapAfterGc() - before;
    t.equal(q.length, backlog);
    t.ok(grownBytes < 4_000_000, `backlog ${backlog}: heap grew by ${grownBytes} bytes`);
  }
});
