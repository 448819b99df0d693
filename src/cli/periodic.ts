/** `fabric periodic [list] [--json]`, `fabric periodic pause|resume|run|delete NAME` */
import { formatDuration } from "../protocol/duration.ts";
import { type Parsed, parseFlags, UsageError, wantsHelp } from "./args.ts";
import { connect, CONNECTION_FLAGS, CONNECTION_HELP } from "./connect.ts";
import { EXIT } from "./exit_codes.ts";
import { escapeControls, printJson, table } from "./output.ts";

const USAGE = `
fabric periodic [list] [--json]
fabric periodic pause NAME
fabric periodic resume NAME
fabric periodic run NAME
fabric periodic delete NAME

Periodic jobs: a job file with "schedule:" is registered by fabric submit (or replaces the one of
its name), and the tracker that leads launches a run of it at each scheduled time: an ordinary job
named NAME@TIME (fabric status shows it, with its link back). See docs/job-file.md.

  list          each one's schedule and time zone, next run, last run and its result, whether it is
                paused, and why its last scheduled time launched nothing (a skip, a miss, a refusal)
  pause NAME    no launches until resumed
  resume NAME   launches again from the next time (the times it was paused over are not run)
  run NAME      launch a run now, once, under its overlap rule: exit 1 if the rule skipped it
                (the last run has not ended and overlap is skip); its schedule is unchanged
  delete NAME   no more launches; its runs stay, as jobs
  --json        print the answer as JSON
A submit token acts on the periodic jobs it registered; another token's need the operator role.
Each run is submitted with the rights the registering token has at that time: if it is revoked,
launches are refused (the list says so) until the job is registered again.
${CONNECTION_HELP}
`;

export async function periodicCommand(args: string[]): Promise<number> {
  const parsed = parseFlags("periodic", args, { ...CONNECTION_FLAGS, json: { type: "boolean" } });
  if (wantsHelp(parsed, USAGE)) return 0;
  const [sub = "list", ...rest] = parsed.positionals;
  if (sub === "list") {
    if (rest.length > 0) throw new UsageError("fabric periodic list takes no argument");
    return await list(parsed);
  }
  if (!["pause", "resume", "run", "delete"].includes(sub)) {
    throw new UsageError(`Unknown periodic subcommand "${sub}" (see fabric periodic --help)`);
  }
  if (rest.length !== 1) throw new UsageError(`fabric periodic ${sub} takes the periodic job's NAME`);
  const name = rest[0];
  const json = parsed.values.json === true;
  const client = await connect(parsed);
  try {
    if (sub === "run") {
      const answer = await client.runPeriodic(name);
      if (json) printJson(answer);
      else if (answer.launched) {
        console.log(escapeControls(`launched ${answer.launched.name}: job ${answer.launched.jobId}`));
      } else console.error(escapeControls(`periodic job ${name}: ${answer.skipped}`));
      return answer.launched ? EXIT.ok : EXIT.failed;
    }
    if (sub === "delete") {
      await client.deletePeriodic(name);
      if (json) printJson({ name, deleted: true });
      else console.log(escapeControls(`periodic job ${name} deleted (its runs stay)`));
      return EXIT.ok;
    }
    const view = sub === "pause" ? await client.pausePeriodic(name) : await client.resumePeriodic(name);
    if (json) printJson(view);
    else {
      const next = view.nextRuns[0] ? `; next run ${view.nextRuns[0]}` : "";
      console.log(escapeControls(`periodic job ${name} ${view.paused ? "paused" : "active"}${next}`));
    }
    return EXIT.ok;
  } finally {
    client.close();
  }
}

async function list(parsed: Parsed): Promise<number> {
  const client = await connect(parsed);
  try {
    const periodic = await client.listPeriodic();
    if (parsed.values.json) return printJson(periodic), EXIT.ok;
    if (periodic.length === 0) {
      console.log('No periodic jobs. A job file with "schedule:" is registered by fabric submit.');
      return EXIT.ok;
    }
    console.log(table(
      ["NAME", "SCHEDULE", "ZONE", "OVERLAP", "NEXT RUN", "LAST RUN", "RESULT", "PAUSED"],
      periodic.map((p) => [
        p.name,
        p.schedule,
        p.timezone,
        `${p.overlap}, catch up ${formatDuration(p.catchUpMs)}`,
        p.nextRuns[0] ?? "-",
        p.lastRun?.name ?? p.lastRun?.jobId ?? "-",
        p.lastRun ? (p.lastRun.state ?? "gone") : "-",
        p.paused ? "yes" : "no",
      ]),
    ));
    for (const p of periodic.filter((p) => p.note !== null)) console.log(escapeControls(`${p.name}: ${p.note}`));
    return EXIT.ok;
  } finally {
    client.close();
  }
}

/** What `fabric submit` prints for a registered periodic job. */
export function describeRegistered(answer: { name: string; replaced: boolean; nextRuns: string[] }): string {
  const verb = answer.replaced ? "replaced (its paused state and last run stay)" : "registered";
  const next = answer.nextRuns.length > 0 ? `; next runs: ${answer.nextRuns.join(", ")}` : " (paused)";
  return `periodic job ${answer.name} ${verb}${next}`;
}
