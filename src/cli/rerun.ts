/** `fabric rerun JOB [--failed] [--wait [--timeout DURATION]] [--json]` */
import { durationFlag, parseFlags, stringFlag, UsageError, wantsHelp } from "./args.ts";
import { connect, CONNECTION_FLAGS, CONNECTION_HELP } from "./connect.ts";
import { waitForJob } from "./job_wait.ts";
import { printJson } from "./output.ts";

const USAGE = `
fabric rerun JOB [--failed] [--wait [--timeout DURATION]] [--json]

Submit a job's file again, as it was submitted (its script files, and its signature if it was
signed), as a new job; prints the new job's id.

  --failed             run again only what did not succeed: the failed, lost, skipped and cancelled
                       tasks (and so what needs them); those that succeeded are carried over as
                       succeeded, with their output for the tasks that need it. The job must have ended
                       and not succeeded (what a job that succeeded skipped, its needs' conditions did)
  --wait               follow the new job until it ends, as fabric submit --wait (exit 0 if every task
                       succeeded, 1 otherwise; Ctrl-C stops waiting and leaves it running)
  --timeout DURATION   with --wait: give up after DURATION with exit code 4; the job goes on
  --json               print the result as JSON
${CONNECTION_HELP}
A submit token may rerun the jobs it submitted; another token's job needs the operator role.
`;

export async function rerunCommand(args: string[]): Promise<number> {
  const parsed = parseFlags("rerun", args, {
    ...CONNECTION_FLAGS,
    failed: { type: "boolean" },
    wait: { type: "boolean" },
    timeout: { type: "string" },
    json: { type: "boolean" },
  });
  if (wantsHelp(parsed, USAGE)) return 0;
  if (parsed.positionals.length !== 1 || parsed.positionals[0].includes(".")) {
    throw new UsageError("fabric rerun takes one job id, e.g. fabric rerun k3f9x2m4qa (see fabric rerun --help)");
  }
  const timeoutMs = durationFlag(stringFlag(parsed, "timeout"), "--timeout");
  if (timeoutMs !== undefined && !parsed.values.wait) throw new UsageError("fabric rerun: --timeout needs --wait");
  const json = parsed.values.json === true;
  const client = await connect(parsed);
  try {
    const rerun = await client.rerunJob(parsed.positionals[0], { failed: parsed.values.failed === true });
    if (!parsed.values.wait) {
      if (json) printJson(rerun);
      else console.log(rerun.jobId);
      return 0;
    }
    if (!json) {
      const carried = rerun.carried > 0 ? `, ${rerun.carried} carried over as succeeded` : "";
      console.error(
        `submitted job ${rerun.jobId} (${rerun.name}, ${rerun.tasks} task(s)${carried}), a rerun of ${rerun.rerunOf}`,
      );
    }
    return await waitForJob(client, rerun, { json, timeoutMs, command: "rerun" });
  } finally {
    client.close();
  }
}
