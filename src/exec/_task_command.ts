/** The command line a task's process is started with, and the program it runs. */
import { resolve } from "node:path";
import type { ProcessSpec } from "./driver.ts";
import { bwrapArgs } from "./sandbox.ts";
import type { ExecRuntime } from "./runtime.ts";
import { unreachableReason } from "./task_user.ts";
import { SYSTEM_PATH } from "./_path_lookup.ts";

/**
 * The argv to spawn: the task's own, behind bwrap (and the switch to the task user) when sandboxed;
 * and the path of the task's program. A missing program, or a directory the task user cannot reach on
 * the host, fails the start.
 */
export function taskCommand(spec: ProcessSpec, runtime: ExecRuntime): { argv: string[]; program: string } {
  const searchPath = spec.env.PATH ?? SYSTEM_PATH;
  const program = spec.command[0].includes("/") ? resolve(spec.cwd, spec.command[0]) : spec.command[0];
  const found = runtime.programs.find(program, searchPath);
  if (found === null) throw new Deno.errors.NotFound(`command "${spec.command[0]}" was not found`);
  const user = spec.user ?? null;
  const args = spec.command.slice(1);
  if (!spec.sandbox) {
    const unreachable = user ? unreachableReason(spec.cwd, user) : null;
    if (unreachable) {
      throw new Error(
        `the task's directory "${spec.cwd}" is out of the task user's reach: ${unreachable}; ` +
          "start the agent with a --data-dir that user can reach (e.g. under /var/lib)",
      );
    }
    // Spawned by its path: Deno would search PATH again (~0.1 ms a task). Not for the task user, whom
    // the path found by the agent may not be open to (~root/.pyenv): setpriv searches PATH as that user.
    return { argv: [user ? program : found, ...args], program: found };
  }
  const [bwrap, ...rest] = bwrapArgs({ ...spec.sandbox, user }, runtime.systemMounts.args());
  const bwrapPath = runtime.programs.find(bwrap, `${searchPath}:${SYSTEM_PATH}`);
  if (bwrapPath === null) throw new Deno.errors.NotFound(`the sandbox needs "bwrap" (bubblewrap), which was not found`);
  // Looked up again inside, where the agent's PATH may lead elsewhere (/root is not there).
  return { argv: [bwrapPath, ...rest, ...spec.command], program: found };
}
