import t from "tap";
import type { ItemPriority } from "../../src/batching/flows.js";
import { DEAD_SEGMENT_SLACK, FAIR_QUANTUM_ITEMS, ItemQueue } from "../../src/batching/item-queue.js";
import { Job } from "../../src/batching/job.js";
import { GatewayError } from "../../src/util/gateway-error.js";

function job(
  id: string,
  items: number,
  deadlineMs = Number.POSITIVE_INFINITY,
  priority: ItemPriority = "bulk",
): Job {
  const documents = Array.from({ length: items }, (_, i) => `${id}#${i}`);
  const j = new Job(
    { requestId: id, query: "q", documents, deadlineMs, admittedMs: 0, priority, trace: undefined },
    () => {},
    () => {},
  );
  return j;
}

function queue() {
  const expired: string[] = [];
  const waits: number[] = [];
  const q = new ItemQueue({
    expired: (j) => {
      expired.push(j.requestId);
      j.fail(new GatewayError("DEADLINE_EXCEEDED", "late"));
      q.drop(j);
    },
    waited: (ms) => waits.push(ms),
    evicted: () => {},
  });
  return { q, expired, waits };
}

const described = (parts: { job: Job; start: number; end: number }[]) =>
  parts.map((p) => `${p.job.requestId}[${p.start},${p.end})`);

t.test("take(n): interactive first, oldest first, splitting the last segment to fit", (t) => {
  const { q, waits } = queue();
  q.push(job("b1", 3, Number.POSITIVE_INFINITY, "bulk"), 0);
  q.push(job("i1", 2, Number.POSITIVE_INFINITY, "interactive"), 5);
  q.push(job("i2", 4, Number.POSITIVE_INFINITY, "interactive"), 6);
  t.equal(q.items, 9);
  t.same(described(q.take(4, 10)), ["i1[0,2)", "i2[0,2)"]);
  t.same(waits, [5, 4]);
  t.equal(q.items, 5);
  t.same(described(q.take(4, 10)), ["i2[2,4)", "b1[0,2)"]);
  t.same(described(q.take(4, 10)), ["b1[2,3)"]);
  t.equal(q.items, 0);
  t.same(q.take(4, 10), []);
  t.end();
});

t.test("a job's state follows its items: sent once the last leaves the queue", (t) => {
  const { q } = queue();
  const j = job("r", 3, Number.POSITIVE_INFINITY, "interactive");
  q.push(j, 0);
  q.take(2, 0);
  t.equal(j.state, "queued");
  t.equal(j.unsent, 1);
  q.take(2, 0);
  t.equal(j.state, "sent");
  t.end();
});

t.test("oldestLiveMs: the oldest live head of either band", (t) => {
  const { q } = queue();
  t.equal(q.oldestLiveMs(0), undefined);
  q.push(job("i", 1, Number.POSITIVE_INFINITY, "interactive"), 7);
  q.push(job("b", 1, Number.POSITIVE_INFINITY, "bulk"), 3);
  t.equal(q.oldestLiveMs(10), 3);
  t.end();
});

t.test("expired jobs met at the head are handed to the owner and skipped", (t) => {
  const { q, expired } = queue();
  q.push(job("late", 2, 5, "interactive"), 0);
  q.push(job("ok", 2, 100, "interactive"), 1);
  t.equal(q.oldestLiveMs(5), 1, "the expired head is dropped");
  t.same(expired, ["late"]);
  t.equal(q.items, 2, "its items left the count");
  q.push(job("late2", 1, 8, "bulk"), 2);
  t.same(described(q.take(10, 9)), ["ok[0,2)"]);
  t.same(expired, ["late", "late2"]);
  t.equal(q.items, 0);
  t.end();
});

t.test("drop: a settled job's unsent items leave the count; its segment is skipped later", (t) => {
  const { q } = queue();
  const gone = job("gone", 3, Number.POSITIVE_INFINITY, "interactive");
  q.push(gone, 0);
  q.push(job("kept", 2, Number.POSITIVE_INFINITY, "interactive"), 0);
  gone.fail(new GatewayError("CLIENT_CANCELLED", "cancelled"));
  t.equal(q.drop(gone), 3);
  t.equal(q.items, 2);
  t.equal(q.retainedSegments, 2, "the dead segment is still held");
  t.same(described(q.take(10, 0)), ["kept[0,2)"]);
  t.equal(q.retainedSegments, 0);
  t.end();
});

t.test("compaction: dead segments behind a live head are dropped past the slack", (t) => {
  const { q } = queue();
  q.push(job("head", 1, Number.POSITIVE_INFINITY, "bulk"), 0); // a live head that never leaves in this test
  const dead: Job[] = [];
  for (let i = 0; i < DEAD_SEGMENT_SLACK + 10; i++) {
    const j = job(`d${i}`, 1, Number.POSITIVE_INFINITY, "bulk");
    q.push(j, 0);
    dead.push(j);
  }
  const held: number[] = [];
  for (const j of dead) {
    j.fail(new GatewayError("CLIENT_CANCELLED", "cancelled"));
    q.drop(j);
    held.push(q.retainedSegments);
  }
  // With n segments held, k of them dead, compaction runs once k > (n − k) + slack:
  // here n = dead + 1, so at the first k above (n + slack) / 2, leaving n − k held.
  const n = dead.length + 1;
  const k = Math.floor((n + DEAD_SEGMENT_SLACK) / 2) + 1;
  t.equal(held[k - 2], n, "held in full just before");
  t.equal(held[k - 1], n - k, "compacted when the dead outnumber the live by more than the slack");
  t.equal(held.at(-1), n - k, "the later dead stay within the slack");
  t.equal(q.items, 1);
  t.same(described(q.take(10, 0)), ["head[0,1)"]);
  t.equal(q.retainedSegments, 0, "what remained of the dead is skipped at the head");
  t.end();
});

t.test("removeAll empties both bands, interactive first", (t) => {
  const { q } = queue();
  q.push(job("b", 1, Number.POSITIVE_INFINITY, "bulk"), 0);
  q.push(job("i", 1, Number.POSITIVE_INFINITY, "interactive"), 0);
  t.same(
    q.removeAll().map((j) => j.requestId),
    ["i", "b"],
  );
  t.equal(q.retainedSegments, 0);
  t.end();
});

/** Items taken per client over `batches` takes of `size`, the client read from the document ids ("A3#…"). */
function shares(q: ItemQueue, batches: number, size: number): Record<string, number> {
  const got: Record<string, number> = {};
  for (let b = 0; b < batches; b++) {
    for (const p of q.take(size, 0)) {
      const client = p.job.requestId.replace(/[0-9]+$/, "");
      got[client] = (got[client] ?? 0) + (p.end - p.start);
    }
  }
  return got;
}

t.test("fair sharing inside a band: deficit round robin over items, FAIR_QUANTUM_ITEMS per turn", (t) => {
  t.equal(FAIR_QUANTUM_ITEMS, 16, "the quantum the expectations below are computed with");
  const { q } = queue();
  q.push(job("A", 1000, Number.POSITIVE_INFINITY, "interactive"), 0, "a");
  for (let k = 0; k < 8; k++) q.push(job(`B${k}`, 8, Number.POSITIVE_INFINITY, "interactive"), 1, "b");
  // Turns: a 16; b 8 + 8; a 16; b 8 + 8 — the small requests are not stuck behind the big one.
  t.same(described(q.take(64, 2)), ["A[0,16)", "B0[0,8)", "B1[0,8)", "A[16,32)", "B2[0,8)", "B3[0,8)"]);
  t.end();
});

t.test("equal weights share equally by items, whatever each client offers", (t) => {
  const { q } = queue();
  // Ten times the load from a: ten requests of 200 against one of 200.
  for (let k = 0; k < 10; k++) q.push(job(`A${k}`, 200, Number.POSITIVE_INFINITY, "bulk"), 0, "a");
  q.push(job("B0", 200, Number.POSITIVE_INFINITY, "bulk"), 0, "b");
  // 5 batches of 64 = 320 items, while both have work: 160 each.
  t.same(shares(q, 5, 64), { A: 160, B: 160 });
  t.end();
});

t.test("weights 3:1 give 75/25 while both have work", (t) => {
  const { q } = queue();
  q.push(job("A0", 1000, Number.POSITIVE_INFINITY, "interactive"), 0, "a", 3);
  q.push(job("B0", 1000, Number.POSITIVE_INFINITY, "interactive"), 0, "b", 1);
  // A turn of a is 48 items, of b 16: every 64-item batch is one round.
  t.same(shares(q, 10, 64), { A: 480, B: 160 });
  t.end();
});

t.test("a weight changed while items wait applies from the client's next turn", (t) => {
  const { q } = queue();
  q.push(job("A0", 1000, Number.POSITIVE_INFINITY, "interactive"), 0, "a", 1);
  q.push(job("B0", 1000, Number.POSITIVE_INFINITY, "interactive"), 0, "b", 1);
  t.same(shares(q, 1, 64), { A: 32, B: 32 }, "1:1");
  // a's next request carries its new weight (a reload gave it 3): its queued items get it too.
  q.push(job("A1", 8, Number.POSITIVE_INFINITY, "interactive"), 1, "a", 3);
  t.same(shares(q, 1, 64), { A: 48, B: 16 }, "3:1 from the next turn");
  t.end();
});

t.test("a weight below 1/FAIR_QUANTUM_ITEMS still gets its share, over several turns", (t) => {
  const { q } = queue();
  q.push(job("A0", 1000, Number.POSITIVE_INFINITY, "interactive"), 0, "a", 1 / 32); // half an item per turn
  q.push(job("B0", 1000, Number.POSITIVE_INFINITY, "interactive"), 0, "b", 1);
  // Per two rounds: a 1 item, b 32 items.
  t.same(shares(q, 1, 66), { A: 2, B: 64 });
  t.end();
});

t.test("bands in order: bulk only when nothing interactive, background only when nothing else", (t) => {
  const { q } = queue();
  q.push(job("G0", 10, Number.POSITIVE_INFINITY, "background"), 0);
  q.push(job("B0", 10, Number.POSITIVE_INFINITY, "bulk"), 1);
  q.push(job("I0", 10, Number.POSITIVE_INFINITY, "interactive"), 2);
  t.equal(q.bandItems("background"), 10);
  t.same(described(q.take(15, 3)), ["I0[0,10)", "B0[0,5)"]);
  t.same(described(q.take(15, 3)), ["B0[5,10)", "G0[0,10)"]);
  t.equal(q.items, 0);
  t.end();
});

t.test("a lower band's minimum share is served first while it has items queued", (t) => {
  const { q } = queue();
  q.setShares({ bulk: 0.25, background: 0.1 });
  q.push(job("I0", 1000, Number.POSITIVE_INFINITY, "interactive"), 0);
  q.push(job("B0", 1000, Number.POSITIVE_INFINITY, "bulk"), 0);
  q.push(job("G0", 1000, Number.POSITIVE_INFINITY, "background"), 0);
  // Per 100-item batch: bulk is owed 25, background 10; interactive takes the rest.
  t.same(shares(q, 4, 100), { I: 260, B: 100, G: 40 });
  // Fractions carry over: 0.1 of 15 is 1.5 items per batch, so 3 items over two batches.
  const r = queue();
  r.q.setShares({ bulk: 0, background: 0.1 });
  r.q.push(job("I0", 1000, Number.POSITIVE_INFINITY, "interactive"), 0);
  r.q.push(job("G0", 1000, Number.POSITIVE_INFINITY, "background"), 0);
  t.same(shares(r.q, 2, 15), { G: 3, I: 27 });
  t.end();
});

t.test("without a share a lower band waits, however long", (t) => {
  const { q } = queue();
  q.push(job("I0", 1000, Number.POSITIVE_INFINITY, "interactive"), 0);
  q.push(job("G0", 10, Number.POSITIVE_INFINITY, "background"), 0);
  t.same(shares(q, 10, 64), { I: 640 });
  t.end();
});

t.test("expired jobs inside any client's flow are handed to the owner; the flow's turn goes on", (t) => {
  const { q, expired } = queue();
  q.push(job("A0", 4, 5, "interactive"), 0, "a");
  q.push(job("A1", 4, Number.POSITIVE_INFINITY, "interactive"), 0, "a");
  q.push(job("B0", 4, 5, "interactive"), 0, "b");
  q.push(job("B1", 4, Number.POSITIVE_INFINITY, "interactive"), 0, "b");
  t.same(described(q.take(64, 6)), ["A1[0,4)", "B1[0,4)"]);
  t.same(expired, ["A0", "B0"]);
  t.equal(q.items, 0);
  t.end();
});

t.test("the items of each band, below a band, and of one client", (t) => {
  const { q } = queue();
  q.push(job("I0", 3, Number.POSITIVE_INFINITY, "interactive"), 0, "a");
  q.push(job("B0", 5, Number.POSITIVE_INFINITY, "bulk"), 0, "a");
  q.push(job("B1", 7, Number.POSITIVE_INFINITY, "bulk"), 0, "b");
  q.push(job("G0", 11, Number.POSITIVE_INFINITY, "background"), 0, "a");
  t.equal(q.bandItems("interactive"), 3);
  t.equal(q.bandItems("bulk"), 12);
  t.equal(q.bandItems("background"), 11);
  t.equal(q.itemsBelow("interactive"), 23);
  t.equal(q.itemsBelow("background"), 0);
  t.equal(q.clientItems("a"), 19);
  t.equal(q.clientItems("b"), 7);
  t.equal(q.clientItems("nobody"), 0);
  q.take(4, 0); // I0's 3 and one of B0's (a's turn comes first in the bulk band)
  t.equal(q.clientItems("a"), 15);
  t.end();
});

/** What the owner does with an evicted job: fail it and drop it from the queue's count; returns the items dropped. */
function settleIn(q: ItemQueue) {
  return (j: Job) => {
    j.fail(new GatewayError("EVICTED_BY_PRIORITY", "evicted"));
    return q.drop(j);
  };
}

t.test("eviction: the lowest band first, its client with the most queued, newest first", (t) => {
  const { q } = queue();
  const settle = settleIn(q);
  q.push(job("B0", 10, Number.POSITIVE_INFINITY, "bulk"), 0, "a");
  q.push(job("G0", 4, Number.POSITIVE_INFINITY, "background"), 0, "a");
  q.push(job("G1", 4, Number.POSITIVE_INFINITY, "background"), 1, "b");
  q.push(job("G2", 4, Number.POSITIVE_INFINITY, "background"), 2, "b");
  // b has 8 background items, a 4: b's newest (G2); then 4 against 4, the client queued first (a).
  const evicted = q.evictBelow("interactive", 6);
  t.same(
    evicted.map((j) => j.requestId),
    ["G2", "G0"],
  );
  t.same(evicted.map(settle), [4, 4], "the owner's drop counts their items");
  t.equal(q.items, 14);
  t.equal(q.bandItems("background"), 4);
  t.same(q.evictBelow("bulk", 5), [], "a bulk request can only evict background: 4 items are not enough");
  const more = q.evictBelow("interactive", 14);
  t.same(
    more.map((j) => j.requestId),
    ["G1", "B0"],
    "background first, then bulk",
  );
  more.forEach(settle);
  t.equal(q.items, 0);
  t.same(q.take(64, 0), [], "evicted jobs are not taken");
  t.end();
});

t.test("eviction skips settled jobs' segments and never evicts the request's own band or above", (t) => {
  const { q } = queue();
  const settle = settleIn(q);
  q.push(job("I0", 8, Number.POSITIVE_INFINITY, "interactive"), 0, "a");
  const gone = job("G0", 4, Number.POSITIVE_INFINITY, "background");
  q.push(gone, 0, "a");
  q.push(job("G1", 4, Number.POSITIVE_INFINITY, "background"), 0, "a");
  gone.fail(new GatewayError("CLIENT_CANCELLED", "gone"));
  q.drop(gone);
  t.same(q.evictBelow("background", 1), [], "nothing is below background");
  const evicted = q.evictBelow("interactive", 4);
  t.same(
    evicted.map((j) => j.requestId),
    ["G1"],
  );
  evicted.forEach(settle);
  t.equal(q.items, 8, "only the interactive request is left");
  t.end();
});

t.test(
  "what a new request competes with: the bands above, its own queue, and each other client's fair share",
  (t) => {
    const { q } = queue();
    q.push(job("I0", 5, Number.POSITIVE_INFINITY, "interactive"), 0, "x");
    q.push(job("A0", 100, Number.POSITIVE_INFINITY, "bulk"), 0, "a", 1);
    q.push(job("B0", 2, Number.POSITIVE_INFINITY, "bulk"), 0, "b", 1);
    q.push(job("C0", 50, Number.POSITIVE_INFINITY, "bulk"), 0, "c", 3);
    // Arrival rates at 0 ms: each flow has sent once, read over the shortest span, 250 ms:
    // n items / (2000 · (1 − e^(−250/2000))) items/ms.
    const inf = Number.POSITIVE_INFINITY;
    const rate = (n: number) => n / (2000 * -Math.expm1(-0.125));
    // b sends 8: b's 10 items go while a serves at most 10 and c (weight 3) at most 30, both from
    // what they have queued; the interactive band comes first, whatever it keeps sending.
    t.same(q.competition("bulk", "b", 1, 8, 0), {
      aheadItems: 5 + 10 + 2 + 30,
      arrivals: [{ perMs: rate(5), room: inf }],
    });
    // a sends 8 more: its 108 items come after everyone else's, and b and c may send more meanwhile:
    // b up to 108 − 2, c (weight 3) up to 324 − 50.
    t.same(q.competition("bulk", "a", 1, 8, 0), {
      aheadItems: 5 + 100 + 2 + 50,
      arrivals: [
        { perMs: rate(5), room: inf },
        { perMs: rate(2), room: 106 },
        { perMs: rate(50), room: 274 },
      ],
    });
    // A new client of weight 2 sending 4: others serve at most 4 × w / 2, all already queued.
    t.same(q.competition("bulk", "d", 2, 4, 0), {
      aheadItems: 5 + 2 + 2 + 6,
      arrivals: [{ perMs: rate(5), room: inf }],
    });
    t.same(
      q.competition("interactive", "b", 1, 8, 0),
      { aheadItems: 5, arrivals: [{ perMs: rate(5), room: 3 }] },
      "the bands below do not count; x may add 3 more before b's 8 are served",
    );
    t.same(
      q.competition("background", "b", 1, 8, 0),
      {
        aheadItems: 5 + 152,
        arrivals: [
          { perMs: rate(5), room: inf },
          { perMs: rate(152), room: inf },
        ],
      },
      "every band above counts whole, and all it sends",
    );
    // Two seconds later the count has faded by e, read over the 2 s since the flow was first seen.
    const later = q.competition("bulk", "b", 1, 8, 2000).arrivals[0]!;
    const faded = 5 / Math.E / (2000 * -Math.expm1(-1));
    t.ok(Math.abs(later.perMs - faded) < 1e-15, `faded: ${later.perMs} ≈ ${faded}`);
    // A zero weight counts as the config's least, 0.01: every other client's share is 100 × its own.
    t.equal(q.competition("bulk", "z", 0, 1, 0).aheadItems, 5 + 100 + 2 + 50);
    t.end();
  },
);

t.test(
  "a weight outside the config's range (0.01–1000) is held to it: a zero weight still gets served",
  (t) => {
    const { q } = queue();
    q.push(job("Z0", 4, Number.POSITIVE_INFINITY, "interactive"), 0, "zero", 0);
    q.push(job("N0", 4, Number.POSITIVE_INFINITY, "interactive"), 0, "nan", Number.NaN);
    t.same(shares(q, 1, 8), { Z: 4, N: 4 });
    t.end();
  },
);

t.test(
  "unreachable: the queued jobs whose predicted wait at their place in the queue passes their deadline",
  (t) => {
    const { q } = queue();
    q.push(job("I0", 8, 5, "interactive"), 0, "x");
    q.push(job("A0", 10, 100, "bulk"), 0, "a");
    q.push(job("A1", 10, 25, "bulk"), 0, "a");
    q.push(job("A2", 10, Number.POSITIVE_INFINITY, "bulk"), 0, "a");
    q.push(job("A3", 10, 1000, "bulk"), 0, "a");
    q.push(job("E0", 3, 0, "bulk"), 0, "a");
    q.push(job("A4", 2, 60, "bulk"), 0, "a");
    q.push(job("B0", 20, 30, "bulk"), 0, "b");
    q.push(job("G0", 4, 50, "background"), 0, "g");
    // One item a millisecond, nothing predicted with nothing ahead; each call seen.
    const asked: string[] = [];
    const found = q.unreachable(0, (ahead, own) => {
      asked.push(`${ahead}+${own}`);
      return ahead === 0 ? undefined : ahead + own;
    });
    // I0: nothing ahead. A0: I0's 8, and b's share of a's 10 items, 10: 28 ms, within 100.
    // A1: a's 10 before it, b's share of 20 (all of b's 20): 48 ms, past 25; taken out, it is not
    // ahead of A2 (no deadline: not asked, but ahead of what follows). A3: a's 20 before it, b's 20:
    // 58 ms. E0, past its deadline, is its timer's. A4: a's 30 before it, b's share of 32, 20:
    // 60 ms, on its deadline. B0: b's 20 go while a serves 20 of its 45: 48 ms, past 30. G0: all
    // of the two bands above, 8 + 65 (E0's 3 count until they are dropped): 77 ms, past 50.
    t.same(asked, ["0+8", "18+10", "38+10", "48+10", "58+2", "28+20", "73+4"]);
    t.same(
      found.map((o) => `${o.job.requestId} ${o.client}/${o.band} ${o.predictedMs}`),
      ["A1 a/bulk 48", "B0 b/bulk 48", "G0 g/background 77"],
    );
    t.equal(q.items, 8 + 45 + 20 + 4, "nothing taken out: the owner fails them");
    t.end();
  },
);

t.test("unreachable leaves alone a job some of whose items were sent", (t) => {
  const { q } = queue();
  q.push(job("C0", 20, 10, "bulk"), 0, "c");
  q.push(job("C1", 4, 10, "bulk"), 0, "c");
  t.same(described(q.take(5, 0)), ["C0[0,5)"]);
  q.push(job("I0", 8, Number.POSITIVE_INFINITY, "interactive"), 0, "x");
  const found = q.unreachable(0, (ahead, own) => ahead + own);
  // C0's 15 left are ahead of C1 (with I0's 8): 27 ms, past 10; C0 itself (23 ms) is not judged.
  t.same(
    found.map((o) => `${o.job.requestId} ${o.predictedMs}`),
    ["C1 27"],
  );
  t.end();
});

t.test("unreachable: other clients' fair shares follow their weights", (t) => {
  const { q } = queue();
  q.push(job("A0", 6, 100, "bulk"), 0, "a", 1);
  q.push(job("A1", 4, 10, "bulk"), 0, "a", 1);
  q.push(job("B0", 30, 1000, "bulk"), 0, "b", 3);
  q.push(job("C0", 2, 1000, "bulk"), 0, "c", 0.5);
  q.push(job("C1", 10, 5, "bulk"), 0, "c", 0.5);
  const asked: string[] = [];
  const found = q.unreachable(0, (ahead, own) => {
    asked.push(`${ahead}+${own}`);
    return ahead === 0 ? undefined : ahead + own;
  });
  // A0 (a's first 6, 6 rounds of weight 1): b serves 6 × 3 = 18, c 6 × 0.5 = 3. A1 (10 rounds): b's
  // 30, c's 5, a's 6: 41, and 45 ms is past 10. B0 (30 items of weight 3, 10 rounds): a's 10, c's 5.
  // C0 (2 items of weight 0.5, 4 rounds): a's 4, b's 12. C1 (24 rounds): a's 10, b's 30, c's 2: 42,
  // and 52 ms is past 5.
  t.same(asked, ["21+6", "41+4", "15+30", "16+2", "42+10"]);
  t.same(
    found.map((o) => `${o.job.requestId} ${o.predictedMs}`),
    ["A1 45", "C1 52"],
  );
  t.end();
});
