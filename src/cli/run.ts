/**
 * `fabric run [--all | --select S] [placement flags] [--async] [--json] -- COMMAND ARGS...`: a command
 * to the fleet as a one-task job (with --all, one copy on every eligible agent, as Nanite's :all),
 * its output streamed with each line prefixed by its agent's name, and the worst exit code.
 */
import { formatDuration } from "../protocol/duration.ts";
import { isTerminalTask } from "../protocol/task.ts";
import { durationFlag, type Parsed, parseFlags, stringFlag, UsageError, wantsHelp } from "./args.ts";
import { connect, CONNECTION_FLAGS, CONNECTION_HELP } from "./connect.ts";
import { copyLabel, copyOutcome, copyRecord, FollowPool, listCopies, worstExitCode } from "./fleet_copies.ts";
import { EXIT } from "./exit_codes.ts";
import { escapeControls, printJson } from "./output.ts";
import { watchUntilDone } from "./watch.ts";

const USAGE = `
fabric run [--all | --select least_loaded|random|round_robin] [--constraint K=V ...] [--agents A,B]
           [--exclude A,B] [--timeout DURATION] [--permissions JSON] [--no-sandbox] [--name NAME]
           [--async] [--json] -- COMMAND [ARGS...]

Run a command over there: a job of one task (or, with --all, one copy on every eligible agent), each
line of its output printed as it comes, prefixed with the agent's name. One word after -- is a
script for bash (fabric run -- 'df -h /; uptime'); several are one command and its arguments, each
passed as it is (fabric run -- ls -l "/a dir").

  --all                  one copy on every ready agent that fits (select: all); an agent that goes
                         down before its copy ends is reported as such, and the run still ends
  --select S             where the one copy goes: least_loaded (default), random or round_robin
  --constraint K=V       only agents whose label K is V (repeatable)
  --agents A,B           only these agents;  --exclude A,B  never these
  --timeout DURATION     stop each copy after DURATION (e.g. 30s): exit code 124 for it
  --permissions JSON     what the command may touch, as in a job file:
                         '{"net": ["example.com:443"], "read": ["/etc/hosts"]}'
  --no-sandbox           run without bubblewrap (only agents started with --allow-unsandboxed)
  --name NAME            the job's name (default: run-COMMAND)
  --async                print the job id (the token for fabric results) at once and return
  --json                 at the end, one object per copy: agent, state, exitCode, durationMs, stdout, stderr
${CONNECTION_HELP}

Exit code: the worst of the copies' own exit codes (128+N for a signal N, 124 for a timeout, 1 for
a copy that could not run), 0 when every copy succeeded; 2 for invalid flags, 3 when the tracker
cannot be reached, 6 when the token's role may not submit.
`;

export async function runCommand(args: string[]): Promise<number> {
  const dash = args.indexOf("--");
  const parsed = parseFlags("run", dash < 0 ? args : args.slice(0, dash), {
    ...CONNECTION_FLAGS,
    all: { type: "boolean" },
    select: { type: "string" },
    constraint: { type: "string", multiple: true },
    agents: { type: "string" },
    exclude: { type: "string" },
    timeout: { type: "string" },
    permissions: { type: "string" },
    "no-sandbox": { type: "boolean" },
    name: { type: "string" },
    async: { type: "boolean" },
    json: { type: "boolean" },
  });
  if (wantsHelp(parsed, USAGE)) return 0;
  const command = dash < 0 ? [] : args.slice(dash + 1);
  if (command.length === 0 || parsed.positionals.length > 0) {
    throw new UsageError("fabric run takes its command after --: fabric run --all -- uptime (see fabric run --help)");
  }
  const spec = runJob(parsed, command);
  const json = parsed.values.json === true;
  const client = await connect(parsed);
  try {
    const submitted = await client.submitJob(spec, { source: `fabric run -- ${command.join(" ")}` });
    if (parsed.values.async) {
      if (json) printJson({ jobId: submitted.jobId, name: submitted.name, copies: submitted.tasks });
      else console.log(submitted.jobId);
      return EXIT.ok;
    }
    await client.learnTrackers(client.urls).catch(() => {});
    const started = Date.now();
    // Copies are followed as they start (a watch's change lists them again, one listing at a time).
    const pool = json ? null : new FollowPool(client);
    let listing: Promise<void> | null = null;
    const look = () => {
      if (pool) {
        listing ??= listCopies(client, submitted.jobId).then((c) => pool.offer(c), () => {}).finally(() => {
          listing = null;
        });
      }
    };
    const watched = await watchUntilDone(client, submitted.jobId, { since: submitted.version ?? 0, onChange: look });
    await listing;
    pool?.offer(await listCopies(client, submitted.jobId));
    await pool?.drain();
    const copies = await listCopies(client, submitted.jobId);
    if (json) {
      const records = [];
      for (const task of copies) records.push(await copyRecord(client, task));
      printJson(records);
    } else {
      for (const task of copies) {
        if (task.state !== "succeeded") console.error(`[fabric] ${copyLabel(task)}: ${copyOutcome(task)}`);
      }
      const ok = copies.filter((t) => t.state === "succeeded").length;
      const job = watched.job;
      console.error(
        escapeControls(
          `[fabric] job ${submitted.jobId} ${job?.state ?? "ended"} in ${formatDuration(Date.now() - started)}: ` +
            `${ok} of ${copies.length} cop${copies.length === 1 ? "y" : "ies"} succeeded`,
        ),
      );
    }
    return copies.every((t) => isTerminalTask(t.state)) ? worstExitCode(copies) : EXIT.failed;
  } finally {
    client.close();
  }
}

/** The job `fabric run` submits: one task, its placement from the flags. */
export function runJob(parsed: Parsed, command: string[]): Record<string, unknown> {
  const all = parsed.values.all === true;
  const select = stringFlag(parsed, "select");
  if (all && select !== undefined) throw new UsageError("fabric run: --all and --select do not go together");
  if (select !== undefined && !["least_loaded", "random", "round_robin"].includes(select)) {
    throw new UsageError(`--select takes least_loaded, random or round_robin, got "${escapeControls(select)}"`);
  }
  const task: Record<string, unknown> = { name: "run", run: commandLine(command) };
  if (all) task.select = "all";
  else if (select) task.select = select;
  const constraints = (parsed.values.constraint as unknown as string[] | undefined) ?? [];
  if (constraints.length > 0) {
    task.constraints = constraints.map((c) => {
      const eq = c.indexOf("=");
      if (eq <= 0) throw new UsageError(`--constraint takes LABEL=VALUE, got "${escapeControls(c)}"`);
      return { label: c.slice(0, eq), equals: c.slice(eq + 1) };
    });
  }
  for (const flag of ["agents", "exclude"] as const) {
    const names = stringFlag(parsed, flag)?.split(",").map((n) => n.trim()).filter((n) => n !== "");
    if (names?.length) task[flag] = names;
  }
  const timeoutMs = durationFlag(stringFlag(parsed, "timeout"), "--timeout");
  if (timeoutMs !== undefined) task.timeout = `${timeoutMs}ms`;
  const permissions = stringFlag(parsed, "permissions");
  if (permissions !== undefined) {
    try {
      task.permissions = JSON.parse(permissions);
    } catch (error) {
      throw new UsageError(
        `--permissions takes JSON, e.g. '{"net": ["example.com:443"]}': ${(error as Error).message}`,
      );
    }
  }
  if (parsed.values["no-sandbox"]) task.sandbox = false;
  const name = stringFlag(parsed, "name") ?? defaultName(command);
  return { name, tasks: [task] };
}

/** One word: a script for bash, as given. Several: each word quoted for bash, so it arrives as it was. */
function commandLine(words: string[]): string {
  if (words.length === 1) return words[0];
  return words.map((w) => /^[\w@%+=:,./-]+$/.test(w) ? w : `'${w.replaceAll("'", `'\\''`)}'`).join(" ");
}

/** `run-` and the command's first word, in the letters a job name may hold. */
function defaultName(command: string[]): string {
  const word = (command[0].trim().split(/\s+/)[0] ?? "").split("/").pop() ?? "";
  const safe = word.replace(/[^A-Za-z0-9_.-]/g, "").slice(0, 40);
  return safe ? `run-${safe}` : "run";
}
