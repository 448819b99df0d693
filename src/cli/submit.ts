/** `fabric submit FILE [--wait [--timeout DURATION]] [--json] [--sign KEY_FILE]` */
import { formatDuration } from "../protocol/duration.ts";
import { type JobSignature, signedPayload, signPayload } from "../protocol/signing.ts";
import type { SigningKey } from "../protocol/signing_keys.ts";
import { durationFlag, parseFlags, stringFlag, UsageError, wantsHelp } from "./args.ts";
import { connect, CONNECTION_FLAGS, CONNECTION_HELP } from "./connect.ts";
import { EXIT } from "./exit_codes.ts";
import { type JobInput, readJobFile } from "./job_input.ts";
import { readSigningKey } from "./key.ts";
import { escapeControls, isTty, printJson } from "./output.ts";
import { countsLine, Progress } from "./progress.ts";
import { watchUntilDone } from "./watch.ts";

/** A job still waiting after this long is told why (a quick job never asks the tracker for reasons); as in USAGE. */
const WAITING_NOTE_MS = 3_000;

const USAGE = `
fabric submit FILE [--wait [--timeout DURATION]] [--json] [--sign KEY_FILE]

Validate a job file and submit it; prints the job id. FILE may be "-" for standard input.

  --wait               follow the job until it ends (exit 0 if every task succeeded, 1 otherwise); once
                       it has waited 3s, say why its tasks wait (as fabric status JOB does), and again
                       whenever that changes, including tasks no current agent can run
  --timeout DURATION   with --wait: give up after DURATION (e.g. 90s, 10m) with exit code 4; the job goes on
  --json               print the result as JSON (why tasks wait still goes to stderr)
  --sign KEY_FILE      sign the job and its script files with this private key (fabric key generate):
                       agents started with --verify-key run only jobs signed by a key they trust
${CONNECTION_HELP}

Exit codes: 0 submitted (with --wait: every task succeeded), 1 a task failed or the job was
cancelled, 2 the file or the flags are invalid, 3 the tracker cannot be reached or refused the credentials,
4 --timeout passed before the job ended.
`;

export async function submitCommand(args: string[]): Promise<number> {
  const parsed = parseFlags("submit", args, {
    ...CONNECTION_FLAGS,
    wait: { type: "boolean" },
    timeout: { type: "string" },
    json: { type: "boolean" },
    sign: { type: "string" },
  });
  if (wantsHelp(parsed, USAGE)) return 0;
  if (parsed.positionals.length !== 1) {
    throw new UsageError("fabric submit takes one job file (see fabric submit --help)");
  }
  const timeoutMs = durationFlag(stringFlag(parsed, "timeout"), "--timeout");
  if (timeoutMs !== undefined && !parsed.values.wait) {
    throw new UsageError("fabric submit: --timeout needs --wait (see fabric submit --help)");
  }
  const file = parsed.positionals[0];
  const job = await readJobFile(file);
  const keyFile = stringFlag(parsed, "sign");
  const signature = keyFile === undefined ? undefined : await signJob(await readSigningKey(keyFile), job);
  const json = parsed.values.json === true;
  const client = await connect(parsed);
  try {
    const submitted = await client.submitJob(job.raw, { source: file, files: job.files, signature });
    if (!parsed.values.wait) {
      if (json) printJson(submitted);
      else console.log(submitted.jobId);
      return 0;
    }
    if (!json) console.error(`submitted job ${submitted.jobId} (${submitted.name}, ${submitted.tasks} task(s))`);
    const started = Date.now();
    const progress = new Progress(json ? "quiet" : isTty() ? "tty" : "lines", started, {
      giveUp: timeoutMs !== undefined,
    });
    const watched = await watchUntilDone(client, submitted.jobId, {
      since: submitted.version ?? 0,
      onChange: (s) => progress.update(s),
      onOutage: (m) => progress.outage(m),
      onWaiting: (notes) => progress.waiting(notes),
      reasonsAfterMs: WAITING_NOTE_MS,
      deadline: timeoutMs === undefined ? undefined : started + timeoutMs,
    });
    progress.done();
    const final = watched.job;
    if (!watched.ended || final === null) {
      const where = final ? `${final.state}, ${countsLine(final)}` : "the tracker did not answer";
      console.error(
        `fabric submit: gave up waiting after ${formatDuration(timeoutMs ?? 0)} (--timeout): job ${submitted.jobId} ` +
          `goes on (${where}); fabric cancel ${submitted.jobId} stops it`,
      );
      if (json) printJson({ ...final, timedOut: true });
      return EXIT.timedOut;
    }
    if (json) {
      printJson(await client.getJob(submitted.jobId));
    } else {
      console.log(`job ${final.id} ${final.state} in ${formatDuration(Date.now() - started)}: ${countsLine(final)}`);
      // The failed tasks are listed; a job without any needs no second look.
      const detail = final.counts.failed > 0 ? await client.getJob(submitted.jobId) : { tasks: [] };
      const failed = detail.tasks.filter((t) => t.state === "failed");
      for (const task of failed.slice(0, 20)) {
        const why = task.exitCode !== null ? `exit code ${task.exitCode}` : task.reason ?? "failed";
        console.log(escapeControls(`  ${task.id} ${task.name}: ${why} (fabric logs ${task.id})`));
      }
      if (failed.length > 20) console.log(`  … and ${failed.length - 20} more failed task(s)`);
    }
    return final.state === "succeeded" ? EXIT.ok : EXIT.failed;
  } finally {
    client.close();
  }
}

/** The signature of the job as the tracker will get it: its data as JSON carries it, and its script files. */
async function signJob(key: SigningKey, job: JobInput): Promise<JobSignature> {
  let payload: string;
  try {
    payload = signedPayload(JSON.parse(JSON.stringify(job.raw)), job.files);
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  return await signPayload(key, payload);
}
