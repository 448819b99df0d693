/**
 * The processes this agent has running, in an append-only log (a line when one starts, a line when
 * it ends), so that after a crash the next start can end what the last one left behind and report
 * those attempts lost instead of leaving them running unseen. One write per event: no file per task.
 */
import { join } from "node:path";
import { type CgroupSupport, killLeftovers, type ProcessRecord } from "../exec/mod.ts";
import { attemptKey, type AttemptRef } from "../protocol/mod.ts";

interface Entry extends ProcessRecord {
  taskId: string;
  attempt: number;
}

const FILE = "runs.ndjson";
/** The log is started afresh once nothing runs and it has grown past this. */
const COMPACT_BYTES = 1024 * 1024;

export class RunRegistry {
  readonly dir: string;
  #file: Deno.FsFile | null = null;
  #open = new Set<string>();
  #bytes = 0;
  #encoder = new TextEncoder();

  constructor(dir: string) {
    this.dir = dir;
    Deno.mkdirSync(dir, { recursive: true });
  }

  record(ref: AttemptRef, process: ProcessRecord): void {
    this.#append({ ...ref, ...process });
    this.#open.add(attemptKey(ref));
  }

  /** A later, fuller record of a process still recorded (nothing once it has been removed). */
  update(ref: AttemptRef, process: ProcessRecord): void {
    if (this.#open.has(attemptKey(ref))) this.#append({ ...ref, ...process });
  }

  remove(ref: AttemptRef): void {
    if (!this.#open.delete(attemptKey(ref))) return;
    this.#append({ end: true, ...ref });
    if (this.#open.size === 0 && this.#bytes > COMPACT_BYTES) {
      this.#file?.close();
      this.#file = null;
      Deno.removeSync(join(this.dir, FILE));
      this.#bytes = 0;
    }
  }

  /** End what a previous run left running; returns the attempts it had. */
  async recover(cgroup: CgroupSupport | null, log: (message: string) => void): Promise<AttemptRef[]> {
    let text = "";
    try {
      text = await Deno.readTextFile(join(this.dir, FILE));
    } catch { /* nothing ran before */ }
    const running = new Map<string, Entry>();
    for (const line of text.split("\n")) {
      if (!line) continue;
      try {
        const entry = JSON.parse(line) as Entry & { end?: true };
        if (entry.end) running.delete(attemptKey(entry));
        else running.set(attemptKey(entry), entry);
      } catch { /* a line cut short by the crash: its process never got past its first instant */ }
    }
    for (const entry of running.values()) {
      if (await killLeftovers(entry, cgroup)) {
        log(`ended task ${entry.taskId} attempt ${entry.attempt}, left running by the last run`);
      }
    }
    await Deno.remove(join(this.dir, FILE)).catch(() => {});
    return [...running.values()].map((e) => ({ taskId: e.taskId, attempt: e.attempt }));
  }

  #append(value: unknown): void {
    this.#file ??= Deno.openSync(join(this.dir, FILE), { create: true, append: true });
    const data = this.#encoder.encode(JSON.stringify(value) + "\n");
    this.#file.writeSync(data);
    this.#bytes += data.length;
  }
}
