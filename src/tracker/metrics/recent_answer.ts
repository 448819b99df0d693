/**
 * A question to the store asked at most once at a time, its answer reused for a moment: the probes
 * and /metrics answer anyone on --metrics-listen, and /readyz anyone on the API's port, so a flood
 * of them must cost the store one query a moment, not one each (on PostgreSQL, each would take one of
 * the tracker's few connections from its own reads).
 */
export class RecentAnswer<T> {
  #ask: () => Promise<T>;
  #freshMs: number;
  #now: () => number;
  #pending: Promise<T> | null = null;
  #last: { answer: Promise<T>; at: number } | null = null;

  /** `freshMs`: how long an answer (or a failure) is given again once it came. */
  constructor(ask: () => Promise<T>, freshMs: number, now: () => number = () => performance.now()) {
    this.#ask = ask;
    this.#freshMs = freshMs;
    this.#now = now;
  }

  get(): Promise<T> {
    if (this.#pending) return this.#pending;
    if (this.#last && this.#now() - this.#last.at < this.#freshMs) return this.#last.answer;
    const answer = this.#ask();
    this.#pending = answer;
    const settled = () => {
      this.#pending = null;
      this.#last = { answer, at: this.#now() };
    };
    answer.then(settled, settled);
    return answer;
  }
}
