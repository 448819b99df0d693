/**
 * Which queued events go in the next report: in order, within the bounds of a report, and not the
 * ones the tracker does not need (a stale attempt's, a `started` its `finished` already implies).
 */
import { attemptKey, type TaskEvent } from "../protocol/mod.ts";

const MAX_BATCH_EVENTS = 1000;
export const MAX_BATCH_BYTES = 4 * 1024 * 1024;

export interface BatchOptions {
  /** Attempts the tracker called stale (their attempt keys): their events are not sent. */
  stale: ReadonlySet<string>;
  /** While above 0, the events at the head of the queue go one at a time (see Reporter's `#refused`). */
  alone: number;
}

/**
 * The next events in order: `count` of them leave the queue, `events` are sent. Not sent: events
 * of stale attempts, and a `started` whose `finished` (or `released`) is already queued behind it.
 * `queue` holds the queued events, oldest first, and `queueJson` each one's JSON text.
 */
export function takeBatch(
  queue: readonly TaskEvent[],
  queueJson: readonly string[],
  { stale, alone }: BatchOptions,
): { count: number; events: string[] } {
  let bytes = 0;
  let count = 0;
  const events: string[] = [];
  const ending = new Set<string>();
  for (const e of queue.slice(0, MAX_BATCH_EVENTS * 2)) {
    if (e.type === "finished" || e.type === "released") ending.add(attemptKey(e));
  }
  const most = alone > 0 ? 1 : MAX_BATCH_EVENTS;
  while (count < queue.length && events.length < most) {
    const event = queue[count];
    const json = queueJson[count];
    if (events.length > 0 && bytes + json.length > MAX_BATCH_BYTES) break;
    count++;
    const key = attemptKey(event);
    if (stale.has(key) || (event.type === "started" && ending.has(key))) continue;
    bytes += json.length;
    events.push(json);
  }
  return { count, events };
}
