/**
 * `fabric results TOKEN [--wait] [--json]`: what a `fabric run --async` (the token is its job id) has
 * to show so far: each copy that ended, its output prefixed with its agent's name and how it ended;
 * the copies still going, counted. Any number of times; `--wait` first waits for every copy to end.
 */
import { isTerminalTask } from "../protocol/task.ts";
import { parseFlags, UsageError, wantsHelp } from "./args.ts";
import { connect, CONNECTION_FLAGS, CONNECTION_HELP } from "./connect.ts";
import { copyLabel, copyOutcome, copyRecord, listCopies, printCopyOutput, worstExitCode } from "./fleet_copies.ts";
import { printJson } from "./output.ts";
import { watchUntilDone } from "./watch.ts";

const USAGE = `
fabric results TOKEN [--wait] [--json]

What a fabric run --async has to show so far (TOKEN is the job id it printed): the output of each
copy that ended, each line prefixed with its agent's name, and how it ended; how many still run.

  --wait    wait until every copy has ended first
  --json    one object per copy: agent, state, exitCode (null while it runs), durationMs, stdout, stderr
${CONNECTION_HELP}

Exit code: the worst exit code of the copies that ended (0 if none failed); 2 for invalid flags, 3
when the tracker cannot be reached.
`;

export async function resultsCommand(args: string[]): Promise<number> {
  const parsed = parseFlags("results", args, {
    ...CONNECTION_FLAGS,
    wait: { type: "boolean" },
    json: { type: "boolean" },
  });
  if (wantsHelp(parsed, USAGE)) return 0;
  if (parsed.positionals.length !== 1) {
    throw new UsageError("fabric results takes the token fabric run --async printed (see fabric results --help)");
  }
  const jobId = parsed.positionals[0];
  const client = await connect(parsed);
  try {
    if (parsed.values.wait) await watchUntilDone(client, jobId);
    const copies = await listCopies(client, jobId);
    if (parsed.values.json) {
      const records = [];
      for (const task of copies) records.push(await copyRecord(client, task));
      printJson(records);
    } else {
      for (const task of copies.filter((t) => isTerminalTask(t.state))) {
        await printCopyOutput(client, task);
        if (task.state !== "succeeded") console.error(`[fabric] ${copyLabel(task)}: ${copyOutcome(task)}`);
      }
      const going = copies.filter((t) => !isTerminalTask(t.state)).length;
      const ok = copies.filter((t) => t.state === "succeeded").length;
      console.error(
        `[fabric] ${ok} of ${copies.length} succeeded` + (going > 0 ? `; ${going} still going (--wait waits)` : ""),
      );
    }
    return worstExitCode(copies);
  } finally {
    client.close();
  }
}
