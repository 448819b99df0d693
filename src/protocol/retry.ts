/**
 * One retry policy for every loop that waits for the tracker or the store to come back (an agent's
 * join, claim and report, a client's job watch, the tracker's store writer): exponential backoff with
 * a cap and full jitter. Each wait is drawn uniformly between zero and a bound that doubles with each
 * failure up to the cap (AWS's "full jitter", as std's async/retry.ts), so that thousands of agents
 * cut off by a tracker restart come back spread over the bound, not all in the same instant.
 */
import { type Clock, sleep, systemClock } from "./clock.ts";

export interface RetryPolicy {
  /** The bound of the first wait, in ms. */
  initialMs: number;
  /** The bound never grows past this, in ms. */
  maxMs: number;
  /** Each failure multiplies the bound by this (2 by default). */
  multiplier?: number;
}

/** The waits between tries of one thing: `next` after a failure, `reset` after a success. */
export class RetryBackoff {
  #initialMs: number;
  #maxMs: number;
  #multiplier: number;
  #random: () => number;
  #bound: number;
  #failures = 0;

  /** `random` returns a number in [0, 1), as `Math.random` (the default). */
  constructor(policy: RetryPolicy, random: () => number = Math.random) {
    const multiplier = policy.multiplier ?? 2;
    if (!(policy.initialMs > 0) || !(policy.maxMs >= policy.initialMs) || !(multiplier >= 1)) {
      throw new RangeError(
        `A backoff needs 0 < initialMs <= maxMs and multiplier >= 1, got ${policy.initialMs}, ${policy.maxMs}, ${multiplier}`,
      );
    }
    this.#initialMs = policy.initialMs;
    this.#maxMs = policy.maxMs;
    this.#multiplier = multiplier;
    this.#random = random;
    this.#bound = policy.initialMs;
  }

  /** Failures since the last success. */
  get failures(): number {
    return this.#failures;
  }

  /** The wait after one more failure: uniform in [0, bound); the bound then grows toward the cap. */
  next(): number {
    const wait = Math.floor(this.#random() * this.#bound);
    this.#bound = Math.min(this.#maxMs, this.#bound * this.#multiplier);
    this.#failures++;
    return wait;
  }

  /** A success: the next failure waits as little as the first. */
  reset(): void {
    this.#bound = this.#initialMs;
    this.#failures = 0;
  }
}

export interface RetryOptions {
  policy: RetryPolicy;
  clock?: Clock;
  random?: () => number;
  /** Whether a failure may pass with time; any other is thrown at once. All may, by default. */
  retryable?: (error: unknown) => boolean;
  /** Before each wait: the failure, how many tries have failed so far (from 1), and the wait in ms. */
  onRetry?: (error: unknown, failures: number, waitMs: number) => void;
  /** Stop trying: a wait in progress ends at once and the last failure is thrown. */
  signal?: AbortSignal;
  /** Once failures have gone on this long (ms, from the first), the last one is thrown. */
  giveUpAfterMs?: number;
}

/**
 * `attempt`'s result, trying again after each retryable failure. The tries end with a success, a
 * failure that is not retryable, the signal or `giveUpAfterMs`; without those two, a caller retries
 * for as long as it lives (an agent waits for its tracker), at most once per wait.
 */
export async function retry<T>(attempt: () => Promise<T>, options: RetryOptions): Promise<T> {
  const clock = options.clock ?? systemClock;
  const backoff = new RetryBackoff(options.policy, options.random);
  let firstFailure: number | null = null;
  for (;;) {
    try {
      return await attempt();
    } catch (error) {
      if (options.signal?.aborted || !(options.retryable?.(error) ?? true)) throw error;
      const now = clock.now();
      firstFailure ??= now;
      if (options.giveUpAfterMs !== undefined && now - firstFailure >= options.giveUpAfterMs) throw error;
      const wait = backoff.next();
      options.onRetry?.(error, backoff.failures, wait);
      await sleep(clock, wait, options.signal);
      if (options.signal?.aborted) throw error;
    }
  }
}
