/**
 * The file a standby's task comes in (see standby.ts): in memory, made before the standby starts. Its
 * name goes once the task is handed over, once the task user's standby holds it open (that standby
 * cannot remove it), or once the standby exits without a task.
 */
import type { StandbyProcess } from "./_standby_process.ts";

/** Where a standby's task comes in a file: memory, so that nothing of a task's environment is written to disk. */
export const INBOX_DIR = "/dev/shm";
/** How a standby's file is named (the rest is random). */
export const INBOX_PREFIX = "fabric-standby-";

export function writeAll(file: Deno.FsFile, data: Uint8Array): void {
  // Bounded: each write takes at least a byte, or throws.
  for (let done = 0; done < data.byteLength;) {
    const wrote = file.writeSync(data.subarray(done));
    if (wrote <= 0) throw new Error("the standby's file takes no more");
    done += wrote;
  }
}

/** Removes the standby's file's name, if it still has one, and closes the agent's end of it. */
export function closeInbox(standby: StandbyProcess): void {
  if (standby.inbox) removeInbox(standby.inbox);
  standby.inbox = null;
  try {
    standby.inboxFile?.close();
  } catch {
    // closed already
  }
  standby.inboxFile = null;
}

/** A new, empty file for a standby's task (only its owner may read it); null where there is no such place. */
export function createInbox(dir: string): string | null {
  try {
    return Deno.makeTempFileSync({ dir, prefix: INBOX_PREFIX });
  } catch {
    return null;
  }
}

export function removeInbox(path: string): void {
  try {
    Deno.removeSync(path);
  } catch {
    // already gone
  }
}

/** Whether `pid` has `path` open as its fd 3, where a standby opens its file. */
export function holds(pid: number, path: string): boolean {
  try {
    return Deno.readLinkSync(`/proc/${pid}/fd/3`) === path;
  } catch {
    return false;
  }
}
