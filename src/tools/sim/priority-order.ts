/**
 * The simulators' waiting queues by priority: Triton's dynamic batcher with
 * `priority_levels` and vLLM's priority policy both serve the lowest value
 * first, and arrivals in order within one value.
 */

/** Puts `item` after every queued item of its priority or a lower one. */
export function insertByPriority<T>(queue: T[], item: T, priority: (x: T) => number): void {
  const p = priority(item);
  let at = queue.length;
  while (at > 0 && priority(queue[at - 1]!) > p) at--;
  queue.splice(at, 0, item);
}
