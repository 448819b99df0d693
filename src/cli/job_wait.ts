/**
 * `--wait` of `fabric submit` and `fabric rerun`: follow a job until it ends, showing its progress on
 * stderr (a redrawn line when stderr is a terminal), why its tasks wait, and at the end its failed
 * tasks; exit 0 if every task succeeded. Ctrl-C detaches: the job runs on, and the line says how to
 * stop it.
 */
import type { FabricClient } from "../client/mod.ts";
import { formatDuration } from "../protocol/duration.ts";
import type { SubmitJobResponse } from "../protocol/mod.ts";
import { EXIT } from "./exit_codes.ts";
import { escapeControls, printJson } from "./output.ts";
import { countsLine, Progress } from "./progress.ts";
import { watchUntilDone } from "./watch.ts";

/** A job still waiting after this long is told why (a quick job never asks the tracker for reasons). */
export const WAITING_NOTE_MS = 3000;

export async function waitForJob(
  client: FabricClient,
  submitted: SubmitJobResponse,
  options: { json: boolean; timeoutMs?: number; command: string },
): Promise<number> {
  const { json, timeoutMs, command } = options;
  const started = Date.now();
  const progress = new Progress(json ? "quiet" : Deno.stderr.isTerminal() ? "tty" : "lines", started, {
    giveUp: timeoutMs !== undefined,
  });
  const detach = () => {
    progress.done();
    console.error(
      `\nfabric ${command}: detached; job ${submitted.jobId} runs on (fabric status ${submitted.jobId} to look, ` +
        `fabric cancel ${submitted.jobId} to stop it)`,
    );
    Deno.exit(130);
  };
  Deno.addSignalListener("SIGINT", detach);
  let watched;
  try {
    watched = await watchUntilDone(client, submitted.jobId, {
      since: submitted.version ?? 0,
      onChange: (s) => progress.update(s),
      onOutage: (m) => progress.outage(m),
      onWaiting: (notes) => progress.waiting(notes),
      reasonsAfterMs: WAITING_NOTE_MS,
      deadline: timeoutMs === undefined ? undefined : started + timeoutMs,
    });
  } finally {
    Deno.removeSignalListener("SIGINT", detach);
    progress.done();
  }
  const final = watched.job;
  if (!watched.ended || final === null) {
    const where = final ? `${final.state}, ${countsLine(final)}` : "the tracker did not answer";
    console.error(
      `fabric ${command}: gave up waiting after ${formatDuration(timeoutMs ?? 0)} (--timeout): job ` +
        `${submitted.jobId} goes on (${where}); fabric cancel ${submitted.jobId} stops it`,
    );
    if (json) printJson({ ...final, timedOut: true });
    return EXIT.timedOut;
  }
  if (json) {
    printJson(await client.getJob(submitted.jobId));
  } else {
    console.log(`job ${final.id} ${final.state} in ${formatDuration(Date.now() - started)}: ${countsLine(final)}`);
    // The failed tasks are listed (a page of them); a job without any needs no second look.
    if (final.counts.failed > 0) {
      const page = await client.getJobTasks(submitted.jobId, { state: "failed", limit: 20 });
      for (const task of page.tasks) {
        const why = task.exitCode !== null ? `exit code ${task.exitCode}` : task.reason ?? "failed";
        console.log(escapeControls(`  ${task.id} ${task.name}: ${why} (fabric logs ${task.id})`));
      }
      if (page.matched > 20) {
        console.log(`  … and ${page.matched - 20} more failed task(s): fabric status ${final.id} --state failed`);
      }
    }
  }
  return final.state === "succeeded" ? EXIT.ok : EXIT.failed;
}
