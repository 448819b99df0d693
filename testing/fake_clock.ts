/**
 * A clock that a test drives (the idea of std's FakeTime, as an object passed in rather than a patch
 * of the globals): time stands still until `tick`, which fires the timers that come due in order and
 * lets what they start run before the next one.
 */
import { setImmediate } from "node:timers";
import type { Clock, TimerId } from "../src/protocol/mod.ts";

interface Timer {
  at: number;
  callback: () => void;
}

/** Settling after a timer is bounded: a test whose timers keep setting timers due at once fails. */
const MAX_FIRES_PER_TICK = 100_000;

export class FakeClock implements Clock {
  #now: number;
  /** In order of setting, which is the order timers due at the same time fire in. */
  #timers = new Map<TimerId, Timer>();
  #nextId = 1;

  constructor(start = 1_700_000_000_000) {
    this.#now = start;
  }

  now(): number {
    return this.#now;
  }

  setTimeout(callback: () => void, ms: number): TimerId {
    const id = this.#nextId++;
    this.#timers.set(id, { at: this.#now + Math.max(0, ms), callback });
    return id;
  }

  clearTimeout(id: TimerId | undefined): void {
    if (id !== undefined) this.#timers.delete(id);
  }

  /** Timers set and not yet fired or cleared. */
  get timers(): number {
    return this.#timers.size;
  }

  /** In how many ms the next timer fires, or null when none is set. */
  nextIn(): number | null {
    let at = Infinity;
    for (const timer of this.#timers.values()) at = Math.min(at, timer.at);
    return at === Infinity ? null : at - this.#now;
  }

  /**
   * Moves time on by `ms`, firing each timer as its time comes, and after each one (and before the
   * first) lets the promises it settled run, so that a loop it woke can set its next timer.
   */
  async tick(ms = 0): Promise<void> {
    const end = this.#now + ms;
    for (let fired = 0;; fired++) {
      await settle();
      const [id, timer] = this.#due(end) ?? [];
      if (timer === undefined) break;
      if (fired >= MAX_FIRES_PER_TICK) throw new Error(`more than ${MAX_FIRES_PER_TICK} timers fired in one tick`);
      this.#timers.delete(id!);
      this.#now = timer.at;
      timer.callback();
    }
    this.#now = end;
    await settle();
  }

  #due(end: number): [TimerId, Timer] | null {
    let first: [TimerId, Timer] | null = null;
    for (const entry of this.#timers) {
      if (entry[1].at <= end && (first === null || entry[1].at < first[1].at)) first = entry;
    }
    return first;
  }
}

/** One turn of the real event loop: every promise callback already queued, and those they queue, have run. */
export function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
