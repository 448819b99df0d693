/**
 * One task process in its own session and process group, so that stopping it reaches everything it
 * started: SIGTERM to the group, SIGKILL after the grace period, and SIGKILL to whatever of the
 * group outlives the leader.
 */
import type { Stream, TaskResult } from "../protocol/mod.ts";
import type { Execution, Finished, ProcessSpec } from "./driver.ts";

export function startProcess(spec: ProcessSpec): Execution {
  const started = performance.now();
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command(spec.command[0], {
      args: spec.command.slice(1),
      cwd: spec.cwd,
      env: spec.env,
      clearEnv: true,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      detached: true, // setsid(): the task leads its own process group
    }).spawn();
  } catch (error) {
    const message = error instanceof Deno.errors.NotFound
      ? `command "${spec.command[0]}" was not found`
      : (error as Error).message;
    return {
      pid: 0,
      finished: Promise.resolve({ result: { kind: "failed_to_start", message }, durationMs: 0 }),
      stop() {},
    };
  }
  const pid = child.pid;
  let ending: "timed_out" | "cancelled" | null = null;
  let killTimer: ReturnType<typeof setTimeout> | undefined;

  const terminate = (why: "timed_out" | "cancelled") => {
    if (ending) return;
    ending = why;
    signalGroup(pid, "SIGTERM");
    killTimer = setTimeout(() => signalGroup(pid, "SIGKILL"), spec.graceMs);
  };
  const timeoutTimer = spec.timeoutMs === null ? undefined : setTimeout(() => terminate("timed_out"), spec.timeoutMs);

  const readers = [pump(child.stdout, "stdout", spec.onOutput), pump(child.stderr, "stderr", spec.onOutput)];
  const finished = (async (): Promise<Finished> => {
    const status = await child.status;
    clearTimeout(timeoutTimer);
    // Whatever the task left running in its group dies with it (and stops holding its pipes).
    signalGroup(pid, "SIGKILL");
    await Promise.all(readers);
    clearTimeout(killTimer);
    const durationMs = performance.now() - started;
    let result: TaskResult;
    if (ending === "timed_out") result = { kind: "timed_out" };
    else if (ending === "cancelled") result = { kind: "cancelled" };
    else if (status.signal) result = { kind: "signaled", signal: status.signal };
    else result = { kind: "exited", code: status.code };
    return { result, durationMs };
  })();

  return { pid, finished, stop: () => terminate("cancelled") };
}

function signalGroup(pid: number, signal: Deno.Signal): void {
  try {
    Deno.kill(-pid, signal);
  } catch {
    // ESRCH: the group is already gone.
  }
}

async function pump(
  stream: ReadableStream<Uint8Array>,
  name: Stream,
  onOutput: (stream: Stream, data: Uint8Array) => void,
): Promise<void> {
  try {
    for await (const chunk of stream) onOutput(name, chunk);
  } catch {
    // The pipe broke because the process is gone: nothing more to read.
  }
}
