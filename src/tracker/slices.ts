/**
 * Long passes over a job's tasks (a submit's expansion, building its entries, a reload, a whole job's
 * status) cut into slices of at most SLICE_MS of work, with a turn of the event loop between them: a
 * pass over a million tasks takes seconds, and a loop blocked that long misses the lease's renewal
 * and its deadline (lease.ts), and every other request. A slice ends by time, not by a count of
 * items, so that it stays short whatever one item costs and on whatever machine.
 *
 * Each caller says why its slice boundaries are safe: what another request can see of its work
 * half done (usually nothing: what it builds is reachable only once it is whole).
 */

/**
 * The most work done between two turns of the event loop: a turn costs 1-4 ms (turn()), so that
 * slices of 40 ms cost a pass about 5% more time, and the loop is never held longer than that.
 */
export const SLICE_MS = 40;

/** The clock is read once in this many steps (reading it costs more than a step of most passes). */
const CHECK_EVERY = 128;

export class Slices {
  #budgetMs: number;
  #started = performance.now();
  #steps = 0;

  constructor(budgetMs = SLICE_MS) {
    this.#budgetMs = budgetMs;
  }

  /** True when the current slice is spent: the caller then awaits `next()` before its next step. */
  due(): boolean {
    if (++this.#steps < CHECK_EVERY) return false;
    this.#steps = 0;
    return performance.now() - this.#started >= this.#budgetMs;
  }

  /** A turn of the event loop (turn()), then a new slice. */
  async next(): Promise<void> {
    await turn();
    this.#started = performance.now();
    this.#steps = 0;
  }

  /** Whether the slice is spent, by the clock now (for a caller whose steps are each large: a page). */
  spent(): boolean {
    return performance.now() - this.#started >= this.#budgetMs;
  }
}

/** `body` for each item in order, in slices. */
export async function forEachSliced<T>(
  items: Iterable<T>,
  body: (item: T) => void,
  slices = new Slices(),
): Promise<void> {
  for (const item of items) {
    body(item);
    if (slices.due()) await slices.next();
  }
}

/**
 * One turn of the event loop, in which timers fire and I/O is read: a timeout of 0. Not setImmediate:
 * in Deno an immediate lets timers run but not, most turns, a socket's data in (measured: a
 * PostgreSQL answer waited 234 ms through 38 immediates, and through 147 MessageChannel messages was
 * still not read, against one or two timeouts of 0), and the lease's renewal is such an answer.
 */
export function turn(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}
