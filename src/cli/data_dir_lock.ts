/**
 * One daemon per data directory. Two agents on one directory kill each other's tasks (each takes
 * the other's for leftovers of a dead run), two trackers schedule the same jobs twice: the second
 * stops at once instead, naming the holder. The lock is the OS's (flock on `fabric.lock`, opened
 * close-on-exec so no task inherits it), so it goes with its holder however that dies, kill -9
 * included, and a restart needs no clean-up.
 */
import { join } from "node:path";

export const LOCK_FILE = "fabric.lock";

/** Another live process holds the data directory: exit code 5 (`EXIT.locked`). */
export class DataDirLockedError extends Error {
  /** Stable, for scripts and logs. */
  readonly code = "data_dir_locked";
  readonly dir: string;
  /** The holder's pid as it wrote it, or null when it could not be read. */
  readonly pid: number | null;

  constructor(dir: string, role: string, holder: { pid: number; role: string } | null) {
    const who = holder ? `${holder.role} pid ${holder.pid}` : "another process (its pid could not be read)";
    super(
      `Cannot start the ${role}: its data directory "${dir}" is in use by ${who}. ` +
        "Stop that one first, or give this one another --data-dir.",
    );
    this.name = "DataDirLockedError";
    this.dir = dir;
    this.pid = holder?.pid ?? null;
  }
}

export interface DataDirLock {
  /** Release it before the process ends (it is released at exit anyway). */
  release(): void;
}

/**
 * Takes `dir`'s lock for `role` ("tracker", "agent") or throws `DataDirLockedError` at once; the lock
 * file then holds `PID ROLE`. Creates the directory (0700) if needed.
 */
export async function lockDataDir(dir: string, role: string): Promise<DataDirLock> {
  await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
  const path = join(dir, LOCK_FILE);
  // Not truncated on open: the holder's pid stays readable for the one that finds it locked.
  const file = await Deno.open(path, { read: true, write: true, create: true, mode: 0o600 });
  let locked = false;
  try {
    locked = await file.tryLock(true);
    if (!locked) throw new DataDirLockedError(dir, role, await readHolder(file));
    await file.truncate(0);
    await file.write(new TextEncoder().encode(`${Deno.pid} ${role}\n`));
  } catch (error) {
    file.close();
    throw error;
  }
  let open = true;
  return {
    release() {
      if (!open) return;
      open = false;
      file.close();
    },
  };
}

/** The holder writes its pid just after it takes the lock: a start in that instant may find none yet. */
async function readHolder(file: Deno.FsFile): Promise<{ pid: number; role: string } | null> {
  for (let attempt = 0; attempt < 5; attempt++) {
    await file.seek(0, Deno.SeekMode.Start);
    const buffer = new Uint8Array(128);
    const read = await file.read(buffer);
    const text = new TextDecoder().decode(buffer.subarray(0, read ?? 0));
    const match = text.match(/^(\d{1,10}) ([a-z]{1,16})\n/);
    if (match) return { pid: Number(match[1]), role: match[2] };
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return null;
}
