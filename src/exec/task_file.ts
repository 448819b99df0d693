/**
 * Reading a file a task made (its $FABRIC_OUTPUT now, artifacts later), trusting nothing about it.
 * A task can leave a symbolic link to the agent's credential there, replace a directory on the way
 * with a link (to another task's files, or to a hung or automounted mount, which merely looking
 * through would touch), leave a FIFO (an open would wait for a writer forever), a device (/dev/zero
 * never ends), a hard link to a file it cannot read, or a file far larger than it may be. So nothing
 * on the way is followed: each directory below the agent's own is looked at itself, the file is found
 * in its directory's listing, opened without following a link and without waiting, must then be a
 * regular file with no other name and be where it was looked for (the kernel's own name of what was
 * opened: that also holds against a task still running, which could swap a directory after the
 * look), and is read only up to its limit. Nothing of its content is ever put in a reason.
 */
import fs from "node:fs";
import { basename, join, relative, resolve, sep } from "node:path";

export type TaskFile =
  | { kind: "absent" }
  | { kind: "read"; bytes: Uint8Array }
  /** `reason` completes "<the file> ...": what is wrong with it, never what it holds. */
  | { kind: "refused"; reason: string };

const { O_RDONLY, O_NOFOLLOW, O_NONBLOCK } = fs.constants;
const ABSENT = { kind: "absent" } as const;
const THROUGH_LINK = "is reached through a symbolic link, not a regular file of the task's directory";
/**
 * The largest directory (its size, which bounds its entries on every Linux filesystem: 12 bytes or
 * more each on ext4, 20 on tmpfs, 1 on ZFS) that is listed on the agent's main thread: a listing
 * reads every entry before the first is seen (200,000 of them took 3.5 s).
 */
const LISTABLE_DIR_BYTES = 4096;

/** Whether a directory a task could fill is small enough to list at once (see LISTABLE_DIR_BYTES). */
export function listable(info: Deno.FileInfo): boolean {
  return info.isDirectory && info.size <= LISTABLE_DIR_BYTES;
}

/**
 * The file at `path` below `root`, a directory the task cannot change (everything below it is
 * checked, the task's own directory included). At most `limit` bytes.
 */
export function readTaskFile(root: string, path: string, limit: number): TaskFile {
  const opened = openTaskFile(root, path);
  if (opened.kind !== "open") return opened;
  try {
    return readUpTo(opened.fd, opened.size, limit);
  } finally {
    fs.closeSync(opened.fd);
  }
}

/** A file a task made, opened for reading after the checks above (the caller closes `fd`), or why not. */
export type OpenedTaskFile = { kind: "open"; fd: number; size: number } | Exclude<TaskFile, { kind: "read" }>;

/** The file at `path` below `root`, checked as readTaskFile checks it, and opened: its content is not read. */
export function openTaskFile(root: string, path: string): OpenedTaskFile {
  const below = relative(root, path);
  if (below === "" || below.startsWith("..")) throw new RangeError(`"${path}" is not below "${root}"`);
  const parents = below.split(sep).slice(0, -1);
  let dir = root;
  let info: Deno.FileInfo | null = null;
  for (const name of parents) {
    dir = join(dir, name);
    info = lstatOrNull(dir);
    if (info === null) return ABSENT;
    if (!info.isDirectory) {
      return {
        kind: "refused",
        reason: info.isSymlink ? THROUGH_LINK : "has a file where a directory should be on its path",
      };
    }
  }
  const entry = info !== null && listable(info) ? listed(dir, basename(path)) : lstatOrNull(path);
  if (entry === null) return ABSENT;
  if (entry.isSymlink) return { kind: "refused", reason: "is a symbolic link, not a regular file" };
  let fd: number;
  try {
    fd = fs.openSync(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK);
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (code === "ENOENT") return ABSENT;
    if (code === "ELOOP") return { kind: "refused", reason: "is a symbolic link, not a regular file" };
    return { kind: "refused", reason: `cannot be opened (${code ?? (error as Error).name})` };
  }
  let kept = false;
  try {
    const stats = fs.fstatSync(fd);
    if (!stats.isFile()) return { kind: "refused", reason: `is ${typeName(stats)}, not a regular file` };
    if (stats.nlink !== 1) {
      return { kind: "refused", reason: "has other names (a hard link), not a regular file of its own" };
    }
    if (!openedAt(fd, root, path)) return { kind: "refused", reason: THROUGH_LINK };
    kept = true;
    return { kind: "open", fd, size: stats.size };
  } finally {
    if (!kept) fs.closeSync(fd);
  }
}

/**
 * `name` in `dir`'s (small) listing, as it is (a link is not followed); null when it is not there.
 * Most tasks leave nothing: a listing of a few entries costs less than a failed lookup's exception.
 */
function listed(dir: string, name: string): { isSymlink: boolean } | null {
  for (const entry of Deno.readDirSync(dir)) if (entry.name === name) return entry;
  return null;
}

function lstatOrNull(path: string): Deno.FileInfo | null {
  try {
    return Deno.lstatSync(path);
  } catch {
    return null;
  }
}

/** Whether what `fd` is open on is `path`, with `root` at its real path and no link below it. */
function openedAt(fd: number, root: string, path: string): boolean {
  try {
    const opened = Deno.readLinkSync(`/proc/self/fd/${fd}`);
    return opened === resolve(Deno.realPathSync(root), relative(root, path));
  } catch {
    return false;
  }
}

/** Reads to the end, or refuses once there is more than `limit` (whatever the file's size said). */
function readUpTo(fd: number, size: number, limit: number): TaskFile {
  let buffer = new Uint8Array(Math.min(limit + 1, Math.max(size + 1, 64 * 1024)));
  let length = 0;
  try {
    while (length <= limit) {
      if (length === buffer.length) {
        const larger = new Uint8Array(Math.min(limit + 1, buffer.length * 2));
        larger.set(buffer);
        buffer = larger;
      }
      const read = fs.readSync(fd, buffer, length, buffer.length - length, null);
      if (read === 0) break;
      length += read;
    }
  } catch (error) {
    return {
      kind: "refused",
      reason: `cannot be read (${(error as { code?: string }).code ?? (error as Error).name})`,
    };
  }
  if (length > limit) return { kind: "refused", reason: `holds more than ${limit} bytes, the most that is kept` };
  return { kind: "read", bytes: buffer.subarray(0, length) };
}

function typeName(info: fs.Stats): string {
  if (info.isDirectory()) return "a directory";
  if (info.isFIFO()) return "a FIFO";
  if (info.isSocket()) return "a socket";
  if (info.isCharacterDevice() || info.isBlockDevice()) return "a device";
  return "something else";
}
