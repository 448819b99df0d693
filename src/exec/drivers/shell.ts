/** The shell driver: `run` is a script for bash (as GitHub Actions runs it), sh, python, or a custom command. */
import { join } from "node:path";
import type { TaskDriver } from "../driver.ts";
import { startProcess } from "../process.ts";

export interface ShellTask {
  run: string;
  /** "bash", "sh", "python", or a command line with "{0}" standing for the script file. */
  shell: string;
}

export const shellDriver: TaskDriver<"shell"> = {
  kind: "shell",
  async prepare(task, { dirs }) {
    return { command: await shellCommand(task, dirs.metaDir) };
  },
  start: startProcess,
};

/** The argv that runs `task.run` with its shell; a custom shell gets the script as a file in `dir`. */
export async function shellCommand(task: ShellTask, dir: string): Promise<string[]> {
  switch (task.shell) {
    case "bash":
      return ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", task.run];
    case "sh":
      return ["sh", "-e", "-c", task.run];
    case "python":
      return ["python3", "-c", task.run];
    default: {
      const script = join(dir, ".fabric-script");
      await Deno.writeTextFile(script, task.run, { mode: 0o700 });
      return task.shell.trim().split(/\s+/).map((part) => part.replaceAll("{0}", script));
    }
  }
}
