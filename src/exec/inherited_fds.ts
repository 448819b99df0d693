/**
 * What the agent's own parent left open (a shell's, a supervisor's or a CI runner's descriptors:
 * pipes, sockets, files opened as root) must not reach its tasks. Deno opens its own descriptors
 * close-on-exec, but keeps those it inherited as they came, and every process it starts gets them: a
 * task, sandboxed or not, could write to a root-only file through one, or accept on a listening
 * socket. So the agent marks every descriptor above standard error close-on-exec before it starts
 * anything. Deno has no call for it: libc's `close_range` (Linux 5.11), else `fcntl` on each
 * descriptor, through FFI.
 */

/** CLOSE_RANGE_CLOEXEC: mark the range close-on-exec instead of closing it. */
const CLOSE_RANGE_CLOEXEC = 4;
const F_SETFD = 2;
const FD_CLOEXEC = 1;
/** The most descriptors looked at one by one where close_range is missing (a process's usual limit is 1,024). */
const MAX_DESCRIPTORS = 1 << 20;

const LIBC_NAMES = ["libc.so.6", "libc.so"];

/**
 * Marks every open descriptor from 3 up close-on-exec. Null when done, else why not (no FFI, no
 * libc found, neither call worked): the caller says so, since its tasks may then inherit them.
 * `closeRange: false` goes straight to the one-by-one way (what an older kernel gets; for its test).
 */
export function closeInheritedOnExec({ closeRange = true }: { closeRange?: boolean } = {}): string | null {
  let libc;
  let failure = "no C library was found";
  for (const name of LIBC_NAMES) {
    try {
      libc = Deno.dlopen(name, {
        close_range: { parameters: ["u32", "u32", "i32"], result: "i32", optional: true },
        fcntl: { parameters: ["i32", "i32", "i32"], result: "i32", optional: true },
      });
      break;
    } catch (error) {
      failure = (error as Error).message;
    }
  }
  if (!libc) return `cannot load the C library (${failure})`;
  try {
    const { close_range, fcntl } = libc.symbols;
    if (closeRange && close_range && close_range(3, 0xffffffff, CLOSE_RANGE_CLOEXEC) === 0) return null;
    if (!fcntl) return "the C library has neither close_range nor fcntl";
    let left = 0;
    for (const fd of openDescriptors()) {
      // The listing's own descriptor is closed by now: not one that is left.
      if (fd > 2 && fcntl(fd, F_SETFD, FD_CLOEXEC) !== 0 && isOpen(fd)) left++;
    }
    return left === 0 ? null : `${left} descriptor(s) could not be marked`;
  } finally {
    libc.close();
  }
}

function isOpen(fd: number): boolean {
  try {
    Deno.readLinkSync(`/proc/self/fd/${fd}`);
    return true;
  } catch {
    return false;
  }
}

/** The process's open descriptors, from /proc (bounded). */
function openDescriptors(): number[] {
  const fds: number[] = [];
  for (const entry of Deno.readDirSync("/proc/self/fd")) {
    const fd = Number(entry.name);
    if (Number.isInteger(fd)) fds.push(fd);
    if (fds.length >= MAX_DESCRIPTORS) break;
  }
  return fds;
}
