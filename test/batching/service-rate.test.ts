import t from "tap";
import { ServiceRate } from "../../src/batching/service-rate.js";

t.test(
  "nothing is measured until enough backlogged time is counted; the first completion only marks",
  (t) => {
    // No fading (an infinite half-life), so the figures are exact.
    const r = new ServiceRate({ halfLifeMs: Number.POSITIVE_INFINITY, minMeasuredMs: 30 });
    r.backlog(true);
    r.completed(8, 1_000, 1);
    t.equal(r.itemsPerEndpointMs, undefined, "a mark, nothing counted: its batch left before the backlog");
    r.completed(8, 1_010, 1);
    r.completed(8, 1_020, 1);
    t.equal(r.itemsPerEndpointMs, undefined, "20 ms counted, 30 needed");
    r.completed(8, 1_030, 1);
    t.equal(r.itemsPerEndpointMs, 0.8, "24 items in 30 ms");
    t.end();
  },
);

t.test("time when no full batch waits for a slot is not counted", (t) => {
  const r = new ServiceRate({ halfLifeMs: Number.POSITIVE_INFINITY, minMeasuredMs: 0 });
  r.completed(64, 0, 1);
  r.completed(64, 10, 1);
  t.equal(r.itemsPerEndpointMs, undefined, "never backlogged: nothing");
  r.backlog(true);
  r.completed(8, 100, 1);
  r.completed(8, 110, 1);
  t.equal(r.itemsPerEndpointMs, 0.8);
  // Work stops waiting: the next completions are the arrivals' pace, not the backend's.
  r.backlog(false);
  r.completed(1, 1_000, 1);
  r.backlog(true);
  t.equal(r.itemsPerEndpointMs, 0.8, "not counted");
  // Backlogged again: the first completion marks, the second counts (10 items in 5 ms).
  r.completed(4, 1_100, 1);
  r.completed(10, 1_105, 1);
  t.equal(r.itemsPerEndpointMs, (8 + 10) / (10 + 5));
  t.end();
});

t.test("older counts fade by counted time; time counts per usable endpoint", (t) => {
  const r = new ServiceRate({ halfLifeMs: 100, minMeasuredMs: 0 });
  r.backlog(true);
  r.completed(0, 0, 1);
  r.completed(10, 100, 1); // 10 items in 100 ms
  r.completed(40, 200, 1); // 40 items in 100 ms: the first 100 ms now weigh half
  // items 10·½ + 40 = 45 over 100·½ + 100 = 150 ms.
  t.equal(r.itemsPerEndpointMs, 0.3);
  // Idle time fades nothing: the measure holds until work waits again.
  r.backlog(false);
  t.equal(r.itemsPerEndpointMs, 0.3);
  const two = new ServiceRate({ halfLifeMs: 2000, minMeasuredMs: 0 });
  two.backlog(true);
  two.completed(0, 0, 2);
  two.completed(20, 10, 2);
  t.equal(two.itemsPerEndpointMs, 1, "20 items in 10 ms from 2 endpoints: 1 item per endpoint-ms");
  t.end();
});
