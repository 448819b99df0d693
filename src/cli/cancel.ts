/** `fabric cancel JOB` */
import { parseFlags, UsageError, wantsHelp } from "./args.ts";
import { connect, CONNECTION_FLAGS, CONNECTION_HELP } from "./connect.ts";
import { escapeControls, printJson } from "./output.ts";
import { countsLine } from "./progress.ts";
import { watchUntilDone } from "./watch.ts";

const USAGE = `
fabric cancel JOB [--no-wait] [--json]

Cancel a job: queued tasks are cancelled at once; running tasks get SIGTERM to their process group,
then SIGKILL after the grace period. Waits until every task has stopped unless --no-wait.
${CONNECTION_HELP}
`;

export async function cancelCommand(args: string[]): Promise<number> {
  const parsed = parseFlags("cancel", args, {
    ...CONNECTION_FLAGS,
    "no-wait": { type: "boolean" },
    json: { type: "boolean" },
  });
  if (wantsHelp(parsed, USAGE)) return 0;
  if (parsed.positionals.length !== 1) throw new UsageError("fabric cancel takes one job id");
  const client = await connect(parsed);
  try {
    const jobId = parsed.positionals[0];
    const result = await client.cancelJob(jobId);
    if (!parsed.values["no-wait"] && result.stopping > 0) {
      if (!parsed.values.json) console.error(`stopping ${result.stopping} running task(s)…`);
      await watchUntilDone(client, jobId);
    }
    const job = await client.getJob(jobId);
    if (parsed.values.json) printJson({ ...result, state: job.state, counts: job.counts });
    else console.log(escapeControls(`job ${jobId} ${job.state}: ${countsLine(job)}`));
    return 0;
  } finally {
    client.close();
  }
}
