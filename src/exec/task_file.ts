/**
 * Reading a file a task made (its $FABRIC_OUTPUT now, artifacts later), trusting nothing about it.
 * A task can leave a symbolic link to the agent's credential there, replace a directory on the way
 * with a link, leave a FIFO (an open would wait for a writer forever), a device (/dev/zero never
 * ends), a hard link to a file it cannot read, or a file far larger than it may be. So the file is
 * opened without following a link and without waiting, must then be a regular file with no other
 * name, must be where it was looked for (the kernel's own name of what was opened), and is read
 * only up to its limit. Nothing of its content is ever put in a reason.
 */
import fs from "node:fs";
import { relative, resolve } from "node:path";

export type TaskFile =
  | { kind: "absent" }
  | { kind: "read"; bytes: Uint8Array }
  /** `reason` completes "<the file> ...": what is wrong with it, never what it holds. */
  | { kind: "refused"; reason: string };

const { O_RDONLY, O_NOFOLLOW, O_NONBLOCK } = fs.constants;

/**
 * The file at `path` inside `root`, a directory the task cannot change (its own directory may be
 * replaced, if it can rename it: everything below `root` is checked). At most `limit` bytes.
 */
export function readTaskFile(root: string, path: string, limit: number): TaskFile {
  // Most tasks leave none: asked without an exception (a failed open builds one, ten times the cost).
  if (!fs.existsSync(path)) return { kind: "absent" };
  let fd: number;
  try {
    fd = fs.openSync(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK);
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (code === "ENOENT") return { kind: "absent" };
    if (code === "ELOOP") return { kind: "refused", reason: "is a symbolic link, not a regular file" };
    return { kind: "refused", reason: `cannot be opened (${code ?? (error as Error).name})` };
  }
  try {
    const info = fs.fstatSync(fd);
    if (!info.isFile()) return { kind: "refused", reason: `is ${typeName(info)}, not a regular file` };
    if (info.nlink !== 1) {
      return { kind: "refused", reason: "has other names (a hard link), not a regular file of its own" };
    }
    if (!openedAt(fd, root, path)) {
      return {
        kind: "refused",
        reason: "is reached through a symbolic link, not a regular file of the task's directory",
      };
    }
    return readUpTo(fd, info.size, limit);
  } finally {
    fs.closeSync(fd);
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
