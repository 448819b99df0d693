/** The store's side of the writer worker: one message per batch, answered when it is committed. */

type Pending = { resolve: (result: unknown) => void; reject: (error: Error) => void };

export class WriterWorker {
  #worker: Worker;
  #pending = new Map<number, Pending>();
  #next = 1;
  #ready: Promise<void>;
  #opened = false;
  /** Sends and exclusive runs not yet answered, counted from the call (they may still wait their turn). */
  #busy = 0;
  /** Held by a batch sent in parts: nothing else may land inside its transaction. */
  #exclusive: Promise<void> = Promise.resolve();

  constructor(path: string, sync: "normal" | "full") {
    this.#worker = new Worker(new URL("./sqlite_writer.ts", import.meta.url), { type: "module" });
    this.#ready = new Promise((resolve, reject) => this.#pending.set(0, { resolve: () => resolve(), reject }));
    this.#ready.then(() => (this.#opened = true), () => {}); // a failure is reported to whoever sends next
    this.#worker.onmessage = (event: MessageEvent<{ id: number; error?: string; result?: unknown }>) => {
      const pending = this.#pending.get(event.data.id);
      this.#pending.delete(event.data.id);
      if (event.data.error !== undefined) pending?.reject(new Error(event.data.error));
      else pending?.resolve(event.data.result);
    };
    this.#worker.onerror = (event) => {
      event.preventDefault();
      for (const pending of this.#pending.values()) pending.reject(new Error(event.message));
      this.#pending.clear();
    };
    this.#worker.postMessage({ type: "open", path, sync });
  }

  /** Open, with nothing sent and unanswered: a write elsewhere cannot overtake or collide with one here. */
  get idle(): boolean {
    return this.#opened && this.#busy === 0;
  }

  /** Send `message` in its turn; resolves with the worker's result once it is done. */
  async send<T = void>(message: Record<string, unknown>): Promise<T> {
    this.#busy++;
    try {
      await this.#ready;
      await this.#exclusive;
      return await this.#post(message) as T;
    } finally {
      this.#busy--;
    }
  }

  /** Run `body` with the worker to itself: its sends form one transaction, in order. */
  async alone(body: (send: (message: Record<string, unknown>) => Promise<unknown>) => Promise<void>): Promise<void> {
    this.#busy++;
    let release = () => {};
    const previous = this.#exclusive;
    this.#exclusive = new Promise((resolve) => (release = resolve));
    try {
      await this.#ready;
      await previous;
      await body((message) => this.#post(message));
    } finally {
      this.#busy--;
      release();
    }
  }

  async #post(message: Record<string, unknown>): Promise<unknown> {
    const id = this.#next++;
    const done = new Promise<unknown>((resolve, reject) => this.#pending.set(id, { resolve, reject }));
    this.#worker.postMessage({ ...message, id });
    return await done;
  }

  async close(): Promise<void> {
    try {
      await this.send({ type: "close" });
    } catch { /* closing anyway */ }
    this.#worker.terminate();
  }
}
