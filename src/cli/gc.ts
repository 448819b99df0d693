/** `fabric gc`: run the tracker's retention now. */
import { formatDuration } from "../protocol/duration.ts";
import { formatSize } from "../protocol/size.ts";
import { parseFlags, UsageError, wantsHelp } from "./args.ts";
import { connect, CONNECTION_FLAGS, CONNECTION_HELP } from "./connect.ts";
import { printJson } from "./output.ts";

const USAGE = `
fabric gc [--json]

Delete now, on the tracker, the ended jobs past their retention (the tracker's --retention, or a
job's own "retention:" when longer), with their tasks, attempts and logs, and the audit entries past
the tracker's --audit-retention, as the tracker does every minute by itself. It works a little at a time, so the tracker goes on serving; this command asks
again until nothing due is left. Needs a token with the admin role.

  --json   print the totals as JSON
${CONNECTION_HELP}
`;

/** Each request works for about this long; the command repeats it while more is due. */
const BUDGET_MS = 10_000;
/** Requests at most (each deletes at least a step's worth): a bound, never reached in practice. */
const MAX_REQUESTS = 100_000;

export async function gcCommand(args: string[]): Promise<number> {
  const parsed = parseFlags("gc", args, { ...CONNECTION_FLAGS, json: { type: "boolean" } });
  if (wantsHelp(parsed, USAGE)) return 0;
  if (parsed.positionals.length > 0) {
    throw new UsageError(`fabric gc takes no arguments, got "${parsed.positionals[0]}"`);
  }
  const client = await connect(parsed);
  try {
    const total = { jobs: 0, tasks: 0, attempts: 0, logs: 0, audit: 0, seconds: 0 };
    let last = await client.gc(BUDGET_MS);
    for (let request = 1;; request++) {
      total.jobs += last.jobs;
      total.tasks += last.tasks;
      total.attempts += last.attempts;
      total.logs += last.logs;
      total.audit += last.audit ?? 0;
      total.seconds += last.seconds;
      if (!last.more || request >= MAX_REQUESTS) break;
      if (!parsed.values.json) console.error(`deleted ${total.jobs} job(s) so far…`);
      last = await client.gc(BUDGET_MS);
    }
    const { retentionMs, auditRetentionMs } = last;
    const result = { ...total, retentionMs, auditRetentionMs, more: last.more, space: last.space };
    if (parsed.values.json) return printJson(result), 0;
    if (retentionMs <= 0) {
      console.log("Retention is off on this tracker (--retention 0): no job was deleted.");
    } else {
      console.log(
        `Deleted ${total.jobs} job(s) that ended over ${formatDuration(retentionMs)} ago: ${total.tasks} task(s), ` +
          `${total.attempts} attempt(s), ${total.logs} log chunk(s), in ${total.seconds.toFixed(1)}s.`,
      );
    }
    if (auditRetentionMs > 0 && total.audit > 0) {
      console.log(`Deleted ${total.audit} audit entries recorded over ${formatDuration(auditRetentionMs)} ago.`);
    }
    const space = last.space;
    if (space) {
      const free = space.freeBytes === null ? "" : `, ${formatSize(space.freeBytes)} of it free for new jobs`;
      console.log(`The store holds ${formatSize(space.bytes)}${free}.`);
    }
    return 0;
  } finally {
    client.close();
  }
}
