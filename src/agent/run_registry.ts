/**
 * The processes this agent has running, one small file each, so that after a crash the next start
 * can end what the last one left behind and report those attempts lost instead of leaving them
 * running unseen.
 */
import { join } from "node:path";
import { type CgroupSupport, killLeftovers, type ProcessRecord } from "../exec/mod.ts";
import type { AttemptRef } from "../protocol/mod.ts";

interface Entry extends ProcessRecord {
  taskId: string;
  attempt: number;
}

export class RunRegistry {
  readonly dir: string;

  constructor(dir: string) {
    this.dir = dir;
    Deno.mkdirSync(dir, { recursive: true });
  }

  record(ref: AttemptRef, process: ProcessRecord): void {
    const entry: Entry = { ...ref, ...process };
    Deno.writeTextFileSync(this.#path(ref), JSON.stringify(entry));
  }

  remove(ref: AttemptRef): void {
    try {
      Deno.removeSync(this.#path(ref));
    } catch {
      // Never recorded (it did not start).
    }
  }

  /** End what a previous run left running; returns the attempts it had. */
  async recover(cgroup: CgroupSupport | null, log: (message: string) => void): Promise<AttemptRef[]> {
    const refs: AttemptRef[] = [];
    for await (const file of Deno.readDir(this.dir)) {
      if (!file.name.endsWith(".json")) continue;
      const path = join(this.dir, file.name);
      try {
        const entry = JSON.parse(await Deno.readTextFile(path)) as Entry;
        if (await killLeftovers(entry, cgroup)) {
          log(`ended task ${entry.taskId} attempt ${entry.attempt}, left running by the last run`);
        }
        refs.push({ taskId: entry.taskId, attempt: entry.attempt });
      } catch {
        // A record cut short by the crash: its process, if any, was never reported started.
      }
      await Deno.remove(path).catch(() => {});
    }
    return refs;
  }

  #path(ref: AttemptRef): string {
    return join(this.dir, `${ref.taskId}-${ref.attempt}.json`);
  }
}
