import { Counter, Gauge, Histogram, type Registry } from "prom-client";
import type { BatcherObserver } from "../batching/observer.js";
import { METRIC_PREFIX } from "./metrics.js";

/** What a batcher's queue holds, per client and band, read at scrape time. */
export type QueueReader = () => Iterable<{ client: string; band: string; items: number }>;

/**
 * Flow control by client and priority band, per backend: items served and
 * their queue wait, requests shed (refused for load, evicted, or taken out
 * when their deadline became unreachable), and items queued (a gauge read
 * from each batcher's queue when Prometheus scrapes, so queueing costs
 * nothing). Client names come from the config
 * (`auth.clients`, or `anonymous`), so the label set is bounded.
 */
function defineFlowMetrics(registry: Registry) {
  const p = METRIC_PREFIX;
  const registers = [registry];
  const readers = new Map<string, QueueReader>();
  const queued = new Gauge({
    name: `${p}client_queued_items`,
    help: "Items waiting in a backend's queue, by client and priority band.",
    labelNames: ["backend", "client", "band"] as const,
    registers,
    collect() {
      queued.reset();
      for (const [backend, read] of readers) {
        for (const row of read()) queued.labels(backend, row.client, row.band).set(row.items);
      }
    },
  });
  return {
    readers,
    served: new Counter({
      name: `${p}client_items_served_total`,
      help: "Items sent to a backend, by client and priority band: each client's share of the backend.",
      labelNames: ["backend", "client", "band"] as const,
      registers,
    }),
    wait: new Histogram({
      name: `${p}client_queue_wait_seconds`,
      help: "Time a client's items waited in a backend's queue before their batch left, by client and band.",
      labelNames: ["backend", "client", "band"] as const,
      buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    }),
    shed: new Counter({
      name: `${p}client_requests_shed_total`,
      help: "Requests shed for load, by client, band and how: refused at the door (queue full, client cap, wait past the deadline or maxQueueWaitMs), evicted by higher-priority work, or unreachable (queued, the work queued ahead of it made it late).",
      labelNames: ["backend", "client", "band", "how"] as const,
      registers,
    }),
  };
}

const byRegistry = new WeakMap<Registry, ReturnType<typeof defineFlowMetrics>>();

/** The flow part of `backend`'s batcher observer; `read` reports its queue at scrape time. */
export function flowMetrics(
  registry: Registry,
  backend: string,
  read: QueueReader,
): Pick<BatcherObserver, "served" | "shed"> {
  let m = byRegistry.get(registry);
  if (m === undefined) {
    m = defineFlowMetrics(registry);
    byRegistry.set(registry, m);
  }
  m.readers.set(backend, read);
  const { served, wait, shed } = m;
  // Anonymous requests reach the batcher as client "" (one flow); the metrics name them.
  const name = (client: string) => (client === "" ? "anonymous" : client);
  // Called for every segment a batch takes: each (client, band)'s series are resolved once.
  const series = new Map<string, { served: { inc(n: number): void }; wait: { observe(s: number): void } }>();
  return {
    served(client, band, items, waitedMs) {
      const key = `${client}\u0000${band}`;
      let s = series.get(key);
      if (s === undefined) {
        s = {
          served: served.labels(backend, name(client), band),
          wait: wait.labels(backend, name(client), band),
        };
        series.set(key, s);
      }
      s.served.inc(items);
      s.wait.observe(waitedMs / 1000);
    },
    shed(client, band, how) {
      shed.labels(backend, name(client), band, how).inc();
    },
  };
}
