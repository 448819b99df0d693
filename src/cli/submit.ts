/** `fabric submit FILE [--wait [--timeout DURATION]] [--json] [--sign KEY_FILE]` */
// What a plain job does not need loads only for one that does (packing for `files:` and script modules,
// signing for --sign, the periodic view for a schedule): a submit loaded the whole protocol, 67 modules
// and ~80 ms, where a plain one needs a third of them.
import type { JobSignature } from "../protocol/signing.ts";
import type { SigningKey } from "../protocol/signing_keys.ts";
import { type BlobRef, DEFAULT_MAX_PACK_BYTES } from "../protocol/blob.ts";
import { taskFilePatterns } from "../protocol/task_files.ts";
import { durationFlag, parseFlags, sizeFlag, stringFlag, UsageError, wantsHelp } from "./args.ts";
import type { Pack } from "./job_packs.ts";
import { connect, CONNECTION_FLAGS, CONNECTION_HELP } from "./connect.ts";
import { type JobInput, locatedRefusal, readJobFile } from "./job_input.ts";
import { waitForJob } from "./job_wait.ts";
import { escapeControls, printJson } from "./output.ts";

const USAGE = `
fabric submit FILE [--wait [--timeout DURATION]] [--json] [--sign KEY_FILE]
              [--no-ignore] [--allow-outside] [--max-pack SIZE]

Validate a job file and submit it; prints the job id. FILE may be "-" for standard input.
A job file with "schedule:" is not run now: it is registered as a periodic job (or replaces the
one of its name, keeping its paused state and last run), and its next run times are printed; the
tracker launches a run at each time (fabric periodic --help).

The files its "files:" name (paths and globs relative to the job file's folder) are packed, their
count and size shown on stderr, and uploaded once (a pack the tracker holds already is not sent again).

  --wait               follow the job until it ends (exit 0 if every task succeeded, 1 otherwise); once
                       it has waited 3s, say why its tasks wait (as fabric status JOB does), and again
                       whenever that changes, including tasks no current agent can run; Ctrl-C
                       stops waiting (exit code 130) and leaves the job running
  --timeout DURATION   with --wait: give up after DURATION (e.g. 90s, 10m) with exit code 4; the job goes on
  --json               print the result as JSON (why tasks wait still goes to stderr)
  --sign KEY_FILE      sign the job, its script files and its files: (by their hashes) with this private
                       key (fabric key generate): agents started with --verify-key run only jobs signed
                       by a key they trust
  --no-ignore          in a git checkout, pack files .gitignore leaves out too (by default only what
                       git ls-files --cached --others --exclude-standard lists is packed)
  --allow-outside      "files:" may name paths outside the job file's folder ("../lib" is packed as "lib")
  --max-pack SIZE      refuse a pack whose files hold more than SIZE (default 256M)
${CONNECTION_HELP}

Exit codes: 0 submitted (with --wait: every task succeeded), 1 a task failed or the job was
cancelled, 2 the file or the flags are invalid, 3 the tracker cannot be reached, cannot serve now (try
again) or refused the credentials, 4 --timeout passed before the job ended.
`;

export async function submitCommand(args: string[]): Promise<number> {
  const parsed = parseFlags("submit", args, {
    ...CONNECTION_FLAGS,
    wait: { type: "boolean" },
    timeout: { type: "string" },
    json: { type: "boolean" },
    sign: { type: "string" },
    "no-ignore": { type: "boolean" },
    "allow-outside": { type: "boolean" },
    "max-pack": { type: "string" },
  });
  if (wantsHelp(parsed, USAGE)) return 0;
  if (parsed.positionals.length !== 1) {
    throw new UsageError("fabric submit takes one job file (see fabric submit --help)");
  }
  const timeoutMs = durationFlag(stringFlag(parsed, "timeout"), "--timeout");
  if (timeoutMs !== undefined && !parsed.values.wait) {
    throw new UsageError("fabric submit: --timeout needs --wait (see fabric submit --help)");
  }
  const maxPack = sizeFlag(stringFlag(parsed, "max-pack"), "--max-pack") ?? DEFAULT_MAX_PACK_BYTES;
  const file = parsed.positionals[0];
  const job = await readJobFile(file);
  const keyFile = stringFlag(parsed, "sign");
  const key = keyFile === undefined ? undefined : await (await import("./key.ts")).readSigningKey(keyFile);
  // A job's packs are signed with it: its signature is made once they are packed (their hashes known).
  const sign = (packs: Record<string, BlobRef>) => key === undefined ? undefined : signJob(key, job, packs);
  const json = parsed.values.json === true;
  if (job.spec.schedule !== undefined && parsed.values.wait) {
    throw new UsageError(`fabric submit: --wait does not apply to "${file}": it has a schedule, and is registered`);
  }
  const packer = shipsFiles(job) ? await import("./job_packs.ts") : null;
  const packs: Pack[] = packer === null ? [] : await packer.packJob(job, file === "-" ? "(stdin)" : file, {
    noIgnore: parsed.values["no-ignore"] === true,
    allowOutside: parsed.values["allow-outside"] === true,
    maxBytes: maxPack,
  });
  const removePacks = async () => await packer?.removePacks(packs);
  let client;
  try {
    for (const line of packer?.describePacks(packs) ?? []) console.error(line);
    client = await connect(parsed);
  } catch (error) {
    await removePacks();
    throw error;
  }
  try {
    const byTask = packer === null ? {} : await packer.uploadPacks(client, packs);
    await removePacks();
    const signature = await sign(byTask);
    if (job.spec.schedule !== undefined) {
      // Each run starts with these packs, as a job submitted now would.
      const options = { source: file, files: job.files, packs: byTask, signature };
      const registered = await client.registerPeriodic(job.raw, options)
        .catch((error) => Promise.reject(locatedRefusal(error, job, file)));
      const { describeRegistered } = await import("./periodic.ts");
      if (json) printJson(registered);
      else console.log(escapeControls(describeRegistered(registered)));
      return 0;
    }
    const submitted = await client.submitJob(job.raw, { source: file, files: job.files, packs: byTask, signature })
      .catch((error) => Promise.reject(locatedRefusal(error, job, file === "-" ? "(stdin)" : file)));
    if (!parsed.values.wait) {
      if (json) printJson(submitted);
      else console.log(submitted.jobId);
      return 0;
    }
    if (!json) console.error(`submitted job ${submitted.jobId} (${submitted.name}, ${submitted.tasks} task(s))`);
    // The other trackers sharing this one's store: the watch moves to one of them if this one goes.
    await client.learnTrackers(client.urls).catch(() => {});
    return await waitForJob(client, submitted, { json, timeoutMs, command: "submit" });
  } finally {
    await removePacks();
    client.close();
  }
}

/** Whether a task of the job ships files: its `files:` (or the job's), or a script's own modules. */
function shipsFiles(job: JobInput): boolean {
  return job.spec.tasks.some((task) => task.script !== undefined || taskFilePatterns(job.spec, task) !== null);
}

/**
 * The signature of the job as the tracker will get it: its data as JSON carries it, its script files,
 * and its packs of `files:` by task name.
 */
async function signJob(key: SigningKey, job: JobInput, packs: Record<string, BlobRef>): Promise<JobSignature> {
  const { signedPayload, signPayload } = await import("../protocol/signing.ts");
  let payload: string;
  try {
    payload = signedPayload(JSON.parse(JSON.stringify(job.raw)), job.files, packs);
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  return await signPayload(key, payload);
}
