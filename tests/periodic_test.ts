/**
 * Periodic jobs end to end: a real tracker and agent as processes, the CLI as processes, a six-field
 * schedule every two seconds. Waits poll real state with a bound; nothing asserts how long a launch took.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { type JobSummary, launchLabel, type PeriodicView } from "../src/protocol/mod.ts";
import { Cluster } from "../testing/cluster.ts";
import { fabric, waitFor } from "../testing/process.ts";

const TICK = `name: tick
schedule: "*/2 * * * * *"
tasks:
  - name: t
    run: echo tick
`;

const SLOW = `name: slow
schedule: "*/2 * * * * *"
tasks:
  - name: t
    run: sleep 30
`;

async function runsOf(cluster: Cluster, name: string): Promise<JobSummary[]> {
  const jobs = await cluster.json<JobSummary[]>(["status", "--limit", "1000"]);
  return jobs.filter((job) => job.periodic?.name === name).reverse();
}

async function periodicNamed(cluster: Cluster, name: string): Promise<PeriodicView | undefined> {
  return (await cluster.json<PeriodicView[]>(["periodic"])).find((p) => p.name === name);
}

/** Each scheduled time launched once at most: no two runs for the same time. */
function assertEachTimeOnce(runs: JobSummary[]): void {
  const times = runs.map((run) => run.periodic!.scheduledAt);
  assert.equal(new Set(times).size, times.length, `a scheduled time launched twice: ${times.join(", ")}`);
  for (const run of runs) assert.equal(run.name, `tick@${launchLabel(Date.parse(run.periodic!.scheduledAt))}`);
}

Deno.test("a periodic job launches runs through a real agent; skip holds while a run is slow; pause, resume, a tracker restart and delete", async () => {
  const cluster = await Cluster.start({ agents: [{ name: "a1", slots: 4 }] });
  try {
    // Registered, not run: the answer names the next times.
    const file = await cluster.writeFile("tick.yaml", TICK);
    const submitted = await cluster.cli(["submit", file]);
    assert.equal(submitted.code, 0, submitted.stderr);
    assert.match(
      submitted.stdout,
      /^periodic job tick registered; next runs: \d{4}-\d\d-\d\dT\d\d:\d\d:\d[02468]\.000Z, /,
    );

    // Runs come, each an ordinary job that succeeds, with its output.
    const first = await waitFor("two runs of tick to succeed", async () => {
      const runs = await runsOf(cluster, "tick");
      return runs.filter((run) => run.state === "succeeded").length >= 2 ? runs : undefined;
    }, { timeoutMs: 30_000, intervalMs: 300 });
    assertEachTimeOnce(first);
    const logs = await cluster.cli(["logs", first[0].id]);
    assert.match(logs.stdout, /tick/);
    const shown = await cluster.cli(["status", first[0].id]);
    assert.match(shown.stdout, /A run of the periodic job tick, for /);

    // overlap: skip (the default) launches nothing while the slow run runs, and says so.
    await cluster.writeFile("slow.yaml", SLOW);
    assert.equal((await cluster.cli(["submit", join(cluster.root, "slow.yaml")])).code, 0);
    const skipped = await waitFor("a skipped time of slow", async () => {
      const view = await periodicNamed(cluster, "slow");
      return /^skipped (the run|\d+ runs in a row,) /.test(view?.note ?? "") ? view : undefined;
    }, { timeoutMs: 30_000, intervalMs: 300 });
    assert.match(skipped.note!, /the last run \(.+\) had not ended \(overlap: skip\)/);
    assert.equal(skipped.lastRun!.state, "running");
    const slowRuns = await runsOf(cluster, "slow");
    assert.equal(slowRuns.length, 1, "one run while it has not ended");
    const runNow = await cluster.cli(["periodic", "run", "slow"]);
    assert.equal(runNow.code, 1, runNow.stderr);
    assert.match(runNow.stderr, /periodic job slow: skipped the run asked for at .*had not ended/);
    const listed = await cluster.cli(["periodic"]);
    assert.match(listed.stdout, /slow: skipped (the run|\d+ runs in a row,) /);
    assert.equal((await cluster.cli(["periodic", "delete", "slow"])).code, 0);
    assert.equal((await cluster.cli(["cancel", slowRuns[0].id])).code, 0);

    // Paused: no launch. Resumed: launches again.
    const paused = await cluster.cli(["periodic", "pause", "tick"]);
    assert.equal(paused.code, 0, paused.stderr);
    const atPause = (await runsOf(cluster, "tick")).length;
    // Long enough for two scheduled times to pass while paused (nothing asserts on a duration).
    await new Promise((resolve) => setTimeout(resolve, 4500));
    assert.equal((await runsOf(cluster, "tick")).length, atPause, "no launch while paused");
    assert.equal((await periodicNamed(cluster, "tick"))!.paused, true);
    assert.equal((await cluster.cli(["periodic", "resume", "tick"])).code, 0);
    await waitFor("a launch after resume", async () => (await runsOf(cluster, "tick")).length > atPause, {
      timeoutMs: 20_000,
      intervalMs: 300,
    });

    // The tracker stops across scheduled times and starts again: the latest missed time runs once
    // (within catchUp), none twice.
    await cluster.tracker.stop("SIGTERM");
    const stoppedAt = Date.now();
    const beforeStop = await waitFor("the tracker to be gone", () => Date.now() - stoppedAt > 2500, {
      timeoutMs: 10_000,
    });
    assert.ok(beforeStop);
    await cluster.startTracker();
    // When it began launching, by its own log line: a time after that is an ordinary launch.
    const started = await cluster.tracker.waitForOutput(
      /^(\S+) tracker: periodic jobs: 1 registered, launching from now/m,
    );
    const startedAt = Date.parse(started[1]);
    // The first run after the stop is the latest time missed: the one before the tracker began
    // launching, or (when a time came between that line and its first look) that time itself, launched
    // as the latest one due. Never an earlier missed time, never two for the times missed.
    const afterStop = () =>
      runsOf(cluster, "tick").then((runs) => runs.filter((run) => Date.parse(run.periodic!.scheduledAt) > stoppedAt));
    const [firstAfter] = await waitFor("the first run after the restart", async () => {
      const runs = await afterStop();
      return runs.length > 0 ? runs : undefined;
    }, { timeoutMs: 20_000, intervalMs: 300 });
    assert.ok(
      Date.parse(firstAfter.periodic!.scheduledAt) > startedAt - 2000,
      "the latest missed time, not an earlier one",
    );
    const missedMeanwhile = (await afterStop()).filter((run) => Date.parse(run.periodic!.scheduledAt) <= startedAt);
    assert.ok(missedMeanwhile.length <= 1, "one catch-up run at most for the times missed while stopped");
    await waitFor("launches after the restart", async () => {
      const runs = await runsOf(cluster, "tick");
      return runs.some((run) => Date.parse(run.periodic!.scheduledAt) > startedAt);
    }, { timeoutMs: 20_000, intervalMs: 300 });

    // Deleted: gone from the list, no more launches, its runs stay.
    const deleted = await cluster.cli(["periodic", "delete", "tick"]);
    assert.equal(deleted.code, 0, deleted.stderr);
    assert.equal(await periodicNamed(cluster, "tick"), undefined);
    const atDelete = await runsOf(cluster, "tick");
    await new Promise((resolve) => setTimeout(resolve, 3000));
    const after = await runsOf(cluster, "tick");
    assert.equal(after.length, atDelete.length, "no launch once deleted");
    assertEachTimeOnce(after);
    const gone = await cluster.cli(["periodic", "run", "tick"]);
    assert.equal(gone.code, 1);
    assert.match(gone.stderr, /No periodic job "tick"/);
  } catch (error) {
    console.error(cluster.describe());
    throw error;
  } finally {
    await cluster.stop();
  }
});

Deno.test("a bad schedule, an unknown time zone or a schedule that never fires is refused with its line and column, and nothing is sent", async () => {
  const dir = await Deno.makeTempDir({ prefix: "fabric-periodic-" });
  try {
    const cases: Array<[string, RegExp]> = [
      [
        `name: n\nschedule: "61 * * * *"\ntasks: [{name: t, run: "true"}]\n`,
        /line 2, column 11: "schedule" is not a valid cron expression \(Invalid value for minute: 61\)/,
      ],
      [
        `name: n\nschedule: "0 3 * * *"\ntimezone: Mars/Olympus\ntasks: [{name: t, run: "true"}]\n`,
        /line 3, column 11: "timezone" is not an IANA time zone/,
      ],
      [
        `name: n\nschedule: "0 0 30 2 *"\ntasks: [{name: t, run: "true"}]\n`,
        /line 2, column 11: "schedule" never fires/,
      ],
      [
        `name: n\nschedule: "* * *"\ntasks: [{name: t, run: "true"}]\n`,
        /line 2, column 11: "schedule" must be a cron expression of five fields/,
      ],
      [
        `name: n\noverlap: skip\ntasks: [{name: t, run: "true"}]\n`,
        /line 2, column 10: "overlap" applies only with "schedule"/,
      ],
    ];
    for (const [text, expected] of cases) {
      const path = join(dir, "job.yaml");
      await Deno.writeTextFile(path, text);
      const result = await fabric(["submit", path], {
        // No tracker at all: a file refused never gets as far as connecting.
        env: { FABRIC_TRACKER: "https://127.0.0.1:9", FABRIC_TOKEN: "x", FABRIC_DATA_DIR: join(dir, "none") },
      });
      assert.equal(result.code, 2, `${text}\n${result.stderr}`);
      assert.match(result.stderr, expected);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a periodic job's files: each run starts with what was packed when it was registered; registered again, with the new files", async () => {
  const cluster = await Cluster.start({ agents: [{ name: "a1", slots: 2 }] });
  try {
    const dir = join(cluster.root, "project");
    await Deno.mkdir(dir);
    const file = join(dir, "packed.yaml");
    await Deno.writeTextFile(
      file,
      `name: packed\nschedule: "*/2 * * * * *"\nfiles: [data.txt]\ntasks:\n  - name: t\n    run: cat data.txt\n`,
    );
    /** The output of the first run that succeeded after `after` runs, polling the runs. */
    const outputAfter = (after: number) =>
      waitFor("a run of packed that succeeded", async () => {
        const runs = (await runsOf(cluster, "packed")).slice(after);
        const done = runs.find((run) => run.state === "succeeded");
        if (!done) return undefined;
        const detail = await cluster.json<{ tasks: Array<{ id: string }> }>(["status", done.id]);
        const logs = await cluster.cli(["logs", detail.tasks[0].id]);
        return { output: logs.stdout, runs: runs.length + after };
      }, { timeoutMs: 30_000, intervalMs: 300 });

    await Deno.writeTextFile(join(dir, "data.txt"), "first version\n");
    const registered = await cluster.cli(["submit", file]);
    assert.equal(registered.code, 0, registered.stderr);
    assert.match(registered.stderr, /1 file/);
    const first = await outputAfter(0);
    assert.equal(first.output, "first version\n");

    // Changed on the submitter's machine: the runs keep what was registered until it is registered again.
    await Deno.writeTextFile(join(dir, "data.txt"), "second version\n");
    const seen = (await runsOf(cluster, "packed")).length;
    assert.equal((await outputAfter(seen)).output, "first version\n");
    const again = await cluster.cli(["submit", file]);
    assert.equal(again.code, 0, again.stderr);
    const after = (await runsOf(cluster, "packed")).length;
    assert.equal((await outputAfter(after)).output, "second version\n");
    assert.equal((await cluster.cli(["periodic", "delete", "packed"])).code, 0);
  } finally {
    await cluster.stop();
  }
});
