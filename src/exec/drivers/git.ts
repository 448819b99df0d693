/**
 * The git driver: a checkout of the task's repository in its directory (see ../git.ts), then its
 * commands in the checkout with its shell, as one script or as steps, each announced.
 */
import { join } from "node:path";
import { type TaskDriver, TaskStopped } from "../driver.ts";
import { checkoutRepo, GitError, redactUrl } from "../git.ts";
import { startProcess } from "../process.ts";
import { shellCommand } from "./shell.ts";

export const gitDriver: TaskDriver<"git"> = {
  kind: "git",
  async prepare(task, { host, dirs, say, deadline, signal }) {
    say(`checking out ${redactUrl(task.git.repo)} at ${task.git.ref}`);
    let checkout;
    try {
      checkout = await checkoutRepo({
        mirrors: host.gitMirrors,
        source: task.git,
        dest: join(dirs.workDir, "src"),
        log: say,
        deadline: deadline ?? undefined,
        signal,
        allowLocal: host.allowLocalGit,
        protectedDirs: [host.dataDir],
      });
    } catch (error) {
      // Stopped by the task's own timeout or cancel, not by the checkout's default deadline.
      if (error instanceof GitError && error.kind === "cancelled" && signal.aborted) {
        throw new TaskStopped("cancelled", error);
      }
      if (error instanceof GitError && error.kind === "timeout" && deadline !== null) {
        throw new TaskStopped("timed_out", error);
      }
      throw error;
    }
    say(`checked out ${checkout.commit}${checkout.fetched ? "" : " (from the local mirror)"}`);
    const { commands } = task;
    const script = "steps" in commands ? stepsScript(commands.steps) : commands.run;
    return {
      command: await shellCommand({ run: script, shell: task.shell }, dirs.metaDir),
      cwd: checkout.dir,
      env: { FABRIC_GIT_COMMIT: checkout.commit },
      // The checkout borrows the mirror's objects, which are in the (hidden) data directory.
      readPaths: checkout.readPaths,
    };
  },
  start: startProcess,
};

/** Steps as one bash script: each announced on stderr, the first failure ends the task. */
export function stepsScript(steps: string[]): string {
  return steps.map((step, i) => {
    const title = step.split("\n")[0];
    return `printf '%s\\n' ${shellQuote(`+ [step ${i + 1}/${steps.length}] ${title}`)} >&2\n${step}`;
  }).join("\n");
}

function shellQuote(text: string): string {
  return `'${text.replaceAll("'", `'\\''`)}'`;
}
