/**
 * A level for long polls: `wait` resolves on the next `notify` (true), or with false after `ms` or
 * when `signal` aborts.
 */
export class Wakeup {
  #waiters = new Set<() => void>();

  /** How many wait now (tests check that a closed request stopped waiting). */
  get waiting(): number {
    return this.#waiters.size;
  }

  notify(): void {
    // Most calls find nobody waiting (a job's every task change notifies it): no copy for them.
    if (this.#waiters.size === 0) return;
    const waiters = [...this.#waiters];
    this.#waiters.clear();
    for (const wake of waiters) wake();
  }

  wait(ms: number, signal?: AbortSignal): Promise<boolean> {
    if (signal?.aborted || ms <= 0) return Promise.resolve(false);
    return new Promise((resolve) => {
      const done = (notified: boolean) => {
        clearTimeout(timer);
        signal?.removeEventListener("abort", aborted);
        this.#waiters.delete(woken);
        resolve(notified);
      };
      const woken = () => done(true);
      const aborted = () => done(false);
      const timer = setTimeout(aborted, ms);
      signal?.addEventListener("abort", aborted, { once: true });
      this.#waiters.add(woken);
    });
  }
}
