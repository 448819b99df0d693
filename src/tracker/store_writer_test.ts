/** The group-commit writer's retries while the store fails, on a real SQLite store and a driven clock. */
import assert from "node:assert/strict";
import { join } from "node:path";
import { SqliteStore } from "../store/mod.ts";
import { FakeClock, settle } from "../../testing/fake_clock.ts";
import { StoreWriter } from "./store_writer.ts";
import { type AuditRecord, queuedTask } from "../store/records.ts";
import { assignedAttempt, queuedJobRecord } from "../../testing/records.ts";

/** A new job's one queued task. */
function queued(jobId: string) {
  const fields = { jobId, ord: 0, template: "t", name: "t", index: 0, count: 1, matrix: null, pinnedAgent: null };
  return queuedTask({ id: `${jobId}.0`, ...fields, createdAt: 1 });
}

function auditEntry(action: string, target: string): AuditRecord {
  return { at: 1, actor: "alice", role: "operator", action, target, detail: null, address: null, outcome: "ok" };
}

/** A real store whose writes fail while `failing` is set (as a locked file or a full disk make them). */
function unwellStore(store: SqliteStore, clock: FakeClock) {
  const unwell = { store, failing: false, writes: [] as number[] };
  const write = store.write.bind(store);
  store.write = (batch) => {
    unwell.writes.push(clock.now());
    return unwell.failing ? Promise.reject(new Error("database is locked")) : write(batch);
  };
  return unwell;
}

async function setup() {
  const dir = await Deno.makeTempDir({ prefix: "fabric-writer-" });
  const clock = new FakeClock();
  const unwell = unwellStore(SqliteStore.open(join(dir, "fabric.db")), clock);
  const errors: string[] = [];
  const writer = new StoreWriter(unwell.store, (error) => errors.push((error as Error).message), {
    clock,
    random: () => 0.5,
  });
  const close = async () => {
    writer.stop();
    await unwell.store.close();
    await Deno.remove(dir, { recursive: true });
  };
  return { clock, unwell, writer, errors, close };
}

Deno.test("a failed write is tried again at jittered waits growing to 10 s, and nothing marked is lost", async () => {
  const { clock, unwell, writer, errors, close } = await setup();
  try {
    const start = clock.now();
    unwell.failing = true;
    let committed = false;
    writer.meta("k", "v1");
    writer.afterCommit(() => (committed = true));
    await settle(); // the write right after this turn fails
    assert.deepEqual(errors, ["database is locked"]);
    writer.meta("k", "v2"); // marked while the store is unwell: waits for the retry
    await clock.tick(30_000);
    // random() = 0.5: half of a bound that doubles from 0.5 s up to 10 s.
    assert.deepEqual(
      unwell.writes.map((t) => t - start),
      [0, 250, 750, 1750, 3750, 7750, 12750, 17750, 22750, 27750],
    );
    assert.equal(committed, false);
    assert.ok(writer.pending);

    unwell.failing = false;
    await clock.tick(5000);
    assert.equal(unwell.writes.at(-1)! - start, 32750, "the next retry comes at its time");
    await writer.flush(); // the retry's write, in the store's writer thread
    assert.equal(unwell.writes.length, 11, "the retry wrote everything");
    assert.equal(committed, true, "afterCommit runs once the change is durable");
    assert.equal(writer.pending, false);
    assert.equal(await unwell.store.getMeta("k"), "v2");

    // A success starts the waits over.
    unwell.failing = true;
    const again = clock.now();
    writer.meta("k", "v3");
    await clock.tick(1000);
    assert.deepEqual(unwell.writes.filter((t) => t >= again).map((t) => t - again), [0, 250, 750]);
    writer.stop();
    assert.equal(clock.timers, 0, "stopping ends the retries");
  } finally {
    await close();
  }
});

Deno.test("a write that fails after the writer stopped leaves no retry behind", async () => {
  const { clock, unwell, writer, close } = await setup();
  try {
    let fail = () => {};
    unwell.store.write = () => new Promise((_, reject) => (fail = () => reject(new Error("database is locked"))));
    writer.meta("k", "v");
    await settle(); // the write is under way
    writer.stop(); // the store is closing
    fail();
    await settle();
    assert.equal(clock.timers, 0);
  } finally {
    await close();
  }
});

Deno.test("a wakeup asked for by many changes is notified once, after the commit that holds them, even after a failed write", async () => {
  const { clock, unwell, writer, close } = await setup();
  try {
    const notified: string[] = [];
    const wakeup = { notify: () => notified.push(`woken, pending ${writer.pending}`) };
    unwell.failing = true;
    for (let i = 0; i < 3; i++) {
      writer.meta("k", `v${i}`);
      writer.wakeAfterCommit(wakeup);
    }
    writer.afterCommit(() => notified.push("callback"));
    await settle(); // the write right after this turn fails: nobody is woken
    assert.deepEqual(notified, []);
    unwell.failing = false;
    await clock.tick(500);
    await writer.flush();
    assert.deepEqual(notified, ["callback", "woken, pending false"]);
    assert.equal(await unwell.store.getMeta("k"), "v2");
  } finally {
    await close();
  }
});

Deno.test("a staged job whose commit fails is refused at once and never written; the rest of that commit is", async () => {
  const { clock, unwell, writer, close } = await setup();
  try {
    const job = queuedJobRecord;
    const task = (jobId: string) => ({ ...queued(jobId), state: "assigned" as const, attempt: 1, agentId: "a1" });
    const attempt = (taskId: string) => assignedAttempt(taskId, "a1");
    const told: Array<{ error: string; audit: string[] }> = [];
    const refused = (error: unknown, audit: AuditRecord[]) =>
      told.push({ error: (error as Error).message, audit: audit.map((a) => `${a.action} ${a.target}`) });

    unwell.failing = true;
    const lost = job("lost");
    const lostTask = task("lost");
    writer.stageJob(lost, [lostTask], refused);
    writer.attempt(attempt(lostTask.id)); // its placement, in the same commit
    writer.audit(auditEntry("job.submit", "lost"));
    writer.meta("k", "kept"); // another change in that commit: kept for the retry
    await assert.rejects(writer.flush(), /database is locked/);
    assert.deepEqual(
      told,
      [{ error: "database is locked", audit: ["job.submit lost"] }],
      "told at once, with its audit",
    );

    unwell.failing = false;
    const ok = job("ok");
    writer.stageJob(ok, [task("ok")], refused);
    await clock.tick(60_000);
    await writer.flush();
    assert.equal(told.length, 1, "a staged job whose commit succeeds is not told anything");
    assert.equal(await unwell.store.getJob("lost"), null);
    assert.deepEqual(await unwell.store.listTasks("lost"), []);
    assert.deepEqual(await unwell.store.listAttempts("lost.0"), []);
    assert.equal((await unwell.store.getJob("ok"))?.state, "queued");
    assert.equal((await unwell.store.listTasks("ok"))[0]?.state, "assigned");
    assert.equal(await unwell.store.getMeta("k"), "kept");
  } finally {
    await close();
  }
});
