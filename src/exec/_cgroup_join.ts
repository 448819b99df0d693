/** The command line that puts a task's process in its group before it runs anything. */
import { join } from "node:path";
import { groupDirs, type TaskCgroup } from "./cgroup.ts";

/**
 * The argv that moves itself into the group (each of its hierarchies), sets the task's file size limit
 * (RLIMIT_FSIZE, soft and hard, `fileSizeBytes`), and then runs `command`: the task joins its group
 * before it runs anything, so nothing it starts can escape the limits. Without a group, only the limit.
 */
export function joinCgroupCommand(
  group: TaskCgroup | null,
  command: string[],
  options: { fileSizeBytes?: number | null } = {},
): string[] {
  const procs = group ? groupDirs(group).map((dir) => join(dir, "cgroup.procs")) : [];
  const fileSize = options.fileSizeBytes ?? null;
  // A bash or sh script joins as its first command: one program less to start per task. Not with a
  // file size limit, whose unit differs between bash (1 KiB) and POSIX shells (512 bytes).
  const shell = command[0].split("/").at(-1);
  if (
    fileSize === null && (shell === "bash" || shell === "sh") && command.at(-2) === "-c" &&
    !procs.some((path) => /['\n]/.test(path))
  ) {
    const writes = procs.map((path) => `echo $$ > '${path}'`).join(" && ");
    const join = `{ ${writes}; } 2>/dev/null || { echo "fabric: cannot join the task's cgroup" >&2; exit 125; }; `;
    return [...command.slice(0, -1), join + command.at(-1)];
  }
  // $0 is the first file, $1... the others; shifted away, "$@" is the command. POSIX sh counts
  // ulimit -f in 512-byte blocks, and sets the hard limit too: the task cannot raise it.
  const steps = procs.map((_, i) => `echo $$ > "$${i}"`);
  if (fileSize !== null) steps.push(`ulimit -f ${Math.ceil(fileSize / 512)}`);
  if (procs.length > 1) steps.push(`shift ${procs.length - 1}`);
  steps.push('exec "$@"');
  return ["/bin/sh", "-c", steps.join(" && "), ...(procs.length > 0 ? procs : ["fabric-task"]), ...command];
}
