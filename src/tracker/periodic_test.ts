/** Periodic jobs in a Tracker on a real SQLite file, with an injected clock that the tests move. */
import assert from "node:assert/strict";
import { join } from "node:path";
import { FakeClock, settle } from "../../testing/fake_clock.ts";
import { FabricError } from "../protocol/mod.ts";
import { SqliteStore } from "../store/mod.ts";
import { Tracker } from "./tracker.ts";

const at = (iso: string) => Date.parse(iso);

async function setup(start: string) {
  const dir = await Deno.makeTempDir({ prefix: "fabric-periodic-test-" });
  const clock = new FakeClock(at(start));
  let ids = 0;
  const logs: string[] = [];
  const open = async () => {
    const tracker = await Tracker.open({
      store: SqliteStore.open(join(dir, "fabric.db")),
      clock,
      newId: () => `id${ids++}`,
      log: (m) => {
        logs.push(m);
        if (Deno.env.get("DEBUG")) console.log(new Date(clock.now()).toISOString(), m);
      },
    });
    tracker.periodic.start();
    return tracker;
  };
  let tracker = await open();
  return {
    clock,
    logs,
    get tracker() {
      return tracker;
    },
    /** The tracker stopped and opened again on the same store, at `when`. */
    async restart(when: string) {
      await tracker.close();
      clock.setTimeout(() => {}, at(when) - clock.now());
      await clock.tick(at(when) - clock.now());
      tracker = await open();
    },
    async cleanup() {
      await tracker.close();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

/**
 * Moves the clock on to `until` a minute at a time, each launch written before the clock moves on
 * (its write is real: SQLite's writer thread takes real time).
 */
async function runUntil(s: { clock: FakeClock; tracker: Tracker }, until: string): Promise<void> {
  while (s.clock.now() < at(until)) {
    await s.clock.tick(Math.min(60_000, at(until) - s.clock.now()));
    await s.tracker.periodic.idle();
    await settle();
  }
}

async function runs(tracker: Tracker): Promise<Array<{ name: string; scheduledAt: string | null; state: string }>> {
  await tracker.flush();
  const jobs = await tracker.store.listJobs({ limit: 1000 });
  return jobs.filter((j) => j.periodic).reverse().map((j) => ({
    name: j.name,
    scheduledAt: j.periodic ? new Date(j.periodic.scheduledAt).toISOString() : null,
    state: j.state,
  }));
}

function periodicSpec(schedule: string, extra: Record<string, unknown> = {}) {
  return { name: "nightly", schedule, tasks: [{ name: "t", run: "true" }], ...extra };
}

Deno.test("a periodic job in New York launches once per day across the fall back, catches up once after a restart within catchUp, and passes over a time missed for longer", async () => {
  const s = await setup("2026-11-01T05:20:00Z"); // 01:20 EDT, the night the clocks go back at 02:00
  try {
    const registered = await s.tracker.registerPeriodic(
      periodicSpec("30 1 * * *", { timezone: "America/New_York", overlap: "allow" }),
    );
    assert.deepEqual(registered, {
      name: "nightly",
      replaced: false,
      nextRuns: ["2026-11-01T05:30:00.000Z", "2026-11-02T06:30:00.000Z", "2026-11-03T06:30:00.000Z"],
    });
    // Through the repeated hour: 01:30 EDT runs, 01:30 EST (06:30Z) is the same time again and does not.
    await runUntil(s, "2026-11-01T09:00:00Z");
    assert.deepEqual(await runs(s.tracker), [
      { name: "nightly@2026-11-01T05:30Z", scheduledAt: "2026-11-01T05:30:00.000Z", state: "queued" },
    ]);
    // Down from 06:00 to 06:33 the next day: the 06:30 run is caught up, once.
    await runUntil(s, "2026-11-02T06:00:00Z");
    await s.restart("2026-11-02T06:33:00Z");
    await runUntil(s, "2026-11-02T08:00:00Z");
    assert.deepEqual((await runs(s.tracker)).map((r) => r.name), [
      "nightly@2026-11-01T05:30Z",
      "nightly@2026-11-02T06:30Z",
    ]);
    // Down across the next day's time for longer than catchUp (5m): passed over, and said so.
    await runUntil(s, "2026-11-03T06:00:00Z");
    await s.restart("2026-11-03T06:40:00Z");
    await runUntil(s, "2026-11-03T08:00:00Z");
    assert.equal((await runs(s.tracker)).length, 2);
    const [view] = await s.tracker.periodic.list();
    assert.equal(view.lastScheduledAt, "2026-11-03T06:30:00.000Z");
    assert.match(view.note!, /missed the run for 2026-11-03T06:30Z/);
    assert.deepEqual(view.nextRuns[0], "2026-11-04T06:30:00.000Z");
    assert.equal(view.lastRun!.name, "nightly@2026-11-02T06:30Z");
  } finally {
    await s.cleanup();
  }
});

Deno.test("an every-second schedule skipped while its run goes on is one note, written and logged once a minute", async () => {
  const s = await setup("2026-01-01T00:00:00.500Z");
  try {
    // No agent: the first run stays queued, and each second after it is skipped.
    await s.tracker.registerPeriodic(periodicSpec("* * * * * *"));
    for (let second = 0; second < 130; second++) {
      await s.clock.tick(1000);
      await s.tracker.periodic.idle();
    }
    await settle();
    assert.deepEqual((await runs(s.tracker)).map((r) => r.name), ["nightly@2026-01-01T00:00:01Z"]);
    const skipLogs = s.logs.filter((line) => line.includes(": skipped "));
    assert.equal(skipLogs.length, 3, skipLogs.join("\n"));
    assert.match(skipLogs[0], /skipped the run for 2026-01-01T00:00:02Z: the last run \(id\d+\) had not ended/);
    assert.match(skipLogs[2], /skipped 121 runs in a row, from 2026-01-01T00:00:02Z to 2026-01-01T00:02:02Z/);
    const [view] = await s.tracker.periodic.list();
    assert.match(view.note!, /^skipped 129 runs in a row, from 2026-01-01T00:00:02Z to 2026-01-01T00:02:10Z:/);
    assert.equal(view.lastScheduledAt, "2026-01-01T00:02:10.000Z");
    const [stored] = await s.tracker.store.loadPeriodic();
    assert.equal(new Date(stored.lastScheduledAt!).toISOString(), "2026-01-01T00:02:02.000Z", "written once a minute");
  } finally {
    await s.cleanup();
  }
});

Deno.test("overlap skip launches nothing while the last run has not ended and says so; cancel stops it and launches", async () => {
  const s = await setup("2026-01-01T00:00:30Z");
  try {
    // No agent: a run stays queued, so it has not ended at the next minute.
    await s.tracker.registerPeriodic(periodicSpec("* * * * *"));
    await runUntil(s, "2026-01-01T00:03:10Z");
    assert.deepEqual((await runs(s.tracker)).map((r) => r.name), ["nightly@2026-01-01T00:01Z"]);
    let [view] = await s.tracker.periodic.list();
    assert.match(
      view.note!,
      /^skipped 2 runs in a row, from 2026-01-01T00:02Z to 2026-01-01T00:03Z: the last run \(id\d+\) had not ended \(overlap: skip\)$/,
    );
    assert.equal(view.lastRun!.state, "queued");
    const manual = await s.tracker.periodic.run("nightly");
    assert.equal(manual.launched, null);
    assert.match(manual.skipped!, /had not ended/);

    await s.tracker.registerPeriodic(periodicSpec("* * * * *", { overlap: "cancel" }));
    await runUntil(s, "2026-01-01T00:04:10Z");
    const all = await runs(s.tracker);
    assert.deepEqual(all.map((r) => [r.name, r.state]), [
      ["nightly@2026-01-01T00:01Z", "cancelled"],
      ["nightly@2026-01-01T00:04Z", "queued"],
    ]);
    [view] = await s.tracker.periodic.list();
    assert.equal(view.note, null);
  } finally {
    await s.cleanup();
  }
});

Deno.test("pause stops launches, resume does not catch up the paused times, delete ends them; runs stay", async () => {
  const s = await setup("2026-01-01T00:00:30Z");
  try {
    await s.tracker.registerPeriodic(periodicSpec("* * * * *", { overlap: "allow" }));
    await runUntil(s, "2026-01-01T00:01:10Z");
    assert.equal((await runs(s.tracker)).length, 1);
    const paused = await s.tracker.periodic.pause("nightly");
    assert.equal(paused.paused, true);
    assert.deepEqual(paused.nextRuns, []);
    await runUntil(s, "2026-01-01T00:05:10Z");
    assert.equal((await runs(s.tracker)).length, 1, "nothing while paused");
    await s.tracker.periodic.resume("nightly");
    await runUntil(s, "2026-01-01T00:05:50Z");
    assert.equal((await runs(s.tracker)).length, 1, "00:05 came while paused: not caught up");
    await runUntil(s, "2026-01-01T00:06:10Z");
    assert.deepEqual((await runs(s.tracker)).map((r) => r.name).at(-1), "nightly@2026-01-01T00:06Z");
    // A paused job is still run by name, now.
    await s.tracker.periodic.pause("nightly");
    const manual = await s.tracker.periodic.run("nightly");
    assert.equal(manual.launched!.name, "nightly@2026-01-01T00:06:10Z");
    await s.tracker.periodic.delete("nightly");
    assert.deepEqual(await s.tracker.periodic.list(), []);
    await assert.rejects(s.tracker.periodic.run("nightly"), (e) => e instanceof FabricError && e.code === "not_found");
    await runUntil(s, "2026-01-01T00:09:10Z");
    assert.equal((await runs(s.tracker)).length, 3, "its runs stay");
    // Reopened: still gone.
    await s.restart("2026-01-01T00:10:00Z");
    assert.deepEqual(await s.tracker.periodic.list(), []);
  } finally {
    await s.cleanup();
  }
});

Deno.test("launches run with the registering token's rights as they are then: revoked, they are refused with the reason", async () => {
  const s = await setup("2026-01-01T00:00:30Z");
  try {
    await s.tracker.createToken({ name: "ci", role: "submit" });
    await s.tracker.createToken({ name: "ops", role: "admin" });
    const ci = { name: "ci", role: "submit" as const };
    await s.tracker.secrets.set("DEPLOY_KEY", { value: "s3cret-value-long", allow: ["token:ci"] });
    // The secret's rule is checked at registration, with the token that registers.
    await assert.rejects(
      s.tracker.registerPeriodic(periodicSpec("* * * * *", { secrets: ["DEPLOY_KEY"] }), {
        submitter: { name: "other", role: "submit" },
      }),
      (e) => e instanceof FabricError && e.code === "forbidden",
    );
    assert.deepEqual(await s.tracker.periodic.list(), [], "nothing is stored");
    await s.tracker.registerPeriodic(periodicSpec("* * * * *", { secrets: ["DEPLOY_KEY"], overlap: "allow" }), {
      submitter: ci,
    });
    await runUntil(s, "2026-01-01T00:01:10Z");
    assert.equal((await runs(s.tracker)).length, 1);
    const [run] = await s.tracker.store.listJobs({ limit: 1 });
    assert.equal(run.submittedBy, "ci");
    await s.tracker.revokeToken("ci");
    await runUntil(s, "2026-01-01T00:02:10Z");
    assert.equal((await runs(s.tracker)).length, 1, "no launch with a revoked token");
    const [view] = await s.tracker.periodic.list();
    assert.equal(
      view.note,
      'refused the run for 2026-01-01T00:02Z: the token "ci" that registered it is revoked or expired ' +
        "(register the job again with a token that works)",
    );
    // The secret's rule is checked again at each launch: narrowed after registration, the launch is refused.
    await s.tracker.createToken({ name: "ci2", role: "submit" });
    await s.tracker.secrets.set("DEPLOY_KEY", { value: "s3cret-value-long", allow: ["token:ci2"] });
    await s.tracker.registerPeriodic(
      { ...periodicSpec("* * * * *", { secrets: ["DEPLOY_KEY"], overlap: "allow" }), name: "other" },
      { submitter: { name: "ci2", role: "submit" } },
    );
    await s.tracker.secrets.set("DEPLOY_KEY", { value: "s3cret-value-long", allow: ["token:someone"] });
    await runUntil(s, "2026-01-01T00:03:10Z");
    const other = (await s.tracker.periodic.list()).find((p) => p.name === "other")!;
    assert.equal(other.lastRun, null);
    assert.match(other.note!, /^refused the run for 2026-01-01T00:03Z: The job may not use the secret "DEPLOY_KEY"/);
  } finally {
    await s.cleanup();
  }
});

Deno.test("a job file with a schedule is not run by submitJob, and registering one that never fires is refused", async () => {
  const s = await setup("2026-01-01T00:00:30Z");
  try {
    await assert.rejects(
      s.tracker.submitJob(periodicSpec("* * * * *")),
      (e) => e instanceof FabricError && e.code === "invalid_job" && /periodic/.test(e.message),
    );
    await assert.rejects(
      s.tracker.registerPeriodic(periodicSpec("0 0 30 2 *")),
      (e) => e instanceof FabricError && e.code === "invalid_job" && /never fires/.test(e.message),
    );
    await assert.rejects(
      s.tracker.registerPeriodic(periodicSpec("* * * * *", { timezone: "Mars/Olympus" })),
      (e) => e instanceof FabricError && /"timezone".*IANA/.test(e.message),
    );
    const replaced = await s.tracker.registerPeriodic(periodicSpec("*/5 * * * *"));
    assert.equal(replaced.replaced, false);
    assert.equal((await s.tracker.registerPeriodic(periodicSpec("*/10 * * * *"))).replaced, true);
    const [view] = await s.tracker.periodic.list();
    assert.equal(view.schedule, "*/10 * * * *");
  } finally {
    await s.cleanup();
  }
});
