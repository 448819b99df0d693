/**
 * Time as an argument. The agent's loops, the retry helper and the tracker's store writer read the
 * time and set their timers through a `Clock` instead of `Date.now()` and `setTimeout`, so that a test
 * drives them (testing/fake_clock.ts) instead of sleeping, and a run is repeatable.
 */

/** What `Clock.setTimeout` returns, for `Clock.clearTimeout`. */
export type TimerId = number;

export interface Clock {
  /** Milliseconds since the epoch: the time events carry. */
  now(): number;
  /** Calls `callback` once, `ms` from now. */
  setTimeout(callback: () => void, ms: number): TimerId;
  /** Cancels a timer; an unknown, fired or undefined id is ignored. */
  clearTimeout(id: TimerId | undefined): void;
}

/** The real time. */
export const systemClock: Clock = {
  now: () => Date.now(),
  // Deno's timer ids are numbers; the type says Timeout once a module loads Node's typings (node:timers).
  setTimeout: (callback, ms) => setTimeout(callback, ms) as unknown as TimerId,
  clearTimeout: (id) => clearTimeout(id),
};

/**
 * Resolves `ms` from now on `clock`, or as soon as `signal` aborts (it resolves then too: a loop
 * that sleeps checks its own signal when it wakes).
 */
export function sleep(clock: Clock, ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clock.clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    };
    const timer = clock.setTimeout(done, ms);
    signal?.addEventListener("abort", done, { once: true });
  });
}
