/**
 * The leader's one timer for the periodic jobs (periodic.ts): set for the earliest next time of all,
 * never further than MAX_TIMER_MS away, and set again only for a sooner time.
 */
import type { Clock, TimerId } from "../protocol/mod.ts";

/** The longest a timer is set for: a later time is looked at again then (a timer past 2^31 ms fires at once). */
const MAX_TIMER_MS = 60_000;

export class PeriodicTimer {
  #clock: Clock;
  #timer: TimerId | undefined;
  #timerAt = Infinity;

  constructor(clock: Clock) {
    this.#clock = clock;
  }

  /** `fire` at `at` (Infinity: none is due; at most MAX_TIMER_MS away), unless set for that or sooner already. */
  arm(at: number, fire: () => void): void {
    if (at === Infinity) at = this.#clock.now() + MAX_TIMER_MS;
    at = Math.min(at, this.#clock.now() + MAX_TIMER_MS);
    if (this.#timer !== undefined && this.#timerAt <= at) return;
    this.#clock.clearTimeout(this.#timer);
    this.#timerAt = at;
    this.#timer = this.#clock.setTimeout(() => {
      this.#timer = undefined;
      this.#timerAt = Infinity;
      fire();
    }, Math.max(0, at - this.#clock.now()));
  }

  stop(): void {
    this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}
