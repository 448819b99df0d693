/**
 * One timer for every task waiting out a retry's backoff: it is set for the earliest that ends, and
 * `takeDue` hands out those whose time has come (also when called early, by the liveness check).
 */
import type { Clock, TimerId } from "../protocol/mod.ts";

/** setTimeout fires at once when asked for more than this: a longer wait is taken in parts. */
const MAX_TIMER_MS = 2 ** 31 - 1;

export interface RetryTimerOptions {
  /** The time, and the timer (a test's clock moves only when the test says so). */
  clock: Clock;
  /** Called when the timer fires; it is expected to call `takeDue`. */
  onDue: () => void;
}

export class RetryTimer<T> {
  #due = new Map<T, number>();
  #clock: Clock;
  #onDue: () => void;
  #timer: TimerId | undefined;
  #armedFor = Infinity;

  constructor(options: RetryTimerOptions) {
    this.#clock = options.clock;
    this.#onDue = options.onDue;
  }

  get size(): number {
    return this.#due.size;
  }

  /** Hold `item` until `at` (clock time). */
  add(item: T, at: number): void {
    this.#due.set(item, at);
    this.#arm(at);
  }

  /** Forget `item` (its task ended); the timer may still fire, with nothing due. */
  delete(item: T): void {
    this.#due.delete(item);
  }

  /** The items whose time has come, in the order they were added, no longer held; the timer is set for the next. */
  takeDue(): T[] {
    const now = this.#clock.now();
    const due: T[] = [];
    let next = Infinity;
    for (const [item, at] of this.#due) {
      if (at > now) {
        next = Math.min(next, at);
        continue;
      }
      this.#due.delete(item);
      due.push(item);
    }
    if (next < Infinity) this.#arm(next);
    return due;
  }

  /** Clear the timer (the tracker is closing); what is held stays held. */
  stop(): void {
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#armedFor = Infinity;
  }

  #arm(at: number): void {
    if (this.#timer !== undefined && at >= this.#armedFor) return;
    this.stop();
    this.#armedFor = at;
    const ms = Math.min(MAX_TIMER_MS, Math.max(0, at - this.#clock.now()));
    this.#timer = this.#clock.setTimeout(() => {
      this.#timer = undefined;
      this.#armedFor = Infinity;
      this.#onDue();
    }, ms);
  }
}
