/** Waiting for a sandboxed task's init, which outlives bwrap, to end. */
import { setImmediate } from "node:timers";
import { childPids, identify, isRunning, type ProcessIdentity } from "./process_tree.ts";

/**
 * bwrap's init (pid 1 of the sandbox, bwrap's only child). bwrap exits as soon as the task's main
 * process does, while its init may still be killing the rest of the sandbox: the task is over
 * only when the init is gone. Found early, because once bwrap exits it is no longer bwrap's child.
 */
export async function findSandboxInit(pid: number, exit: Promise<unknown>): Promise<ProcessIdentity | null> {
  let exited = false;
  exit.then(() => (exited = true), () => (exited = true));
  for (let attempt = 0; attempt < 500 && !exited; attempt++) {
    const [init] = childPids(pid);
    const found = init === undefined ? null : identify(init);
    if (found) return found;
    // The task's end cuts the wait short: the result does not wait for a timer to run out.
    await Promise.race([exit.catch(() => {}), pause(attempt)]);
  }
  return null;
}

/** Waits (briefly: it is already dying) until the sandbox's init has torn its pid namespace down. */
export async function untilGone(process: ProcessIdentity | null): Promise<void> {
  for (let attempt = 0; process && attempt < 300 && isRunning(process); attempt++) await pause(attempt);
}

/**
 * A wait between two looks at something that changes within microseconds to milliseconds: first a
 * turn of the event loop (Deno's shortest timer is ~2 ms, longer than most of these waits), then timers.
 */
function pause(attempt: number): Promise<void> {
  if (attempt < 10) return new Promise((resolve) => setImmediate(resolve));
  return new Promise((resolve) => setTimeout(resolve, Math.min(attempt - 9, 5)));
}
