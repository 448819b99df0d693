/** The embedded store on real files: migrations, atomic batches, and what comes back after reopening. */
import assert from "node:assert/strict";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { emptyCounts, FabricError } from "../protocol/mod.ts";
import { MIGRATIONS } from "./migrations.ts";
import { type AgentRecord, type JobRecord, queuedTask, type TaskRecord } from "./records.ts";
import { SqliteStore } from "./sqlite.ts";
import { emptyBatch } from "./store.ts";

function agentRecord(id: string, name: string): AgentRecord {
  return {
    id,
    name,
    labels: { zone: "a" },
    slots: 2,
    version: "1",
    os: "linux",
    arch: "x86_64",
    credentialHash: "ab",
    state: "ready",
    registeredAt: 1,
    lastHeartbeat: null,
    load: null,
    weight: 1,
    capabilities: { sandbox: true, unsandboxed: false, cgroup: null, deno: false, git: true },
    resources: { cpu: 2, memory: 1, disk: 1 },
    draining: false,
    drainDeadline: null,
  };
}

function jobRecord(id: string, state: JobRecord["state"]): JobRecord {
  return {
    id,
    name: "j",
    spec: { name: "j", tasks: [{ name: "t", run: "true" }] },
    files: {},
    source: null,
    signed: null,
    state,
    cancelRequested: false,
    total: 1,
    counts: emptyCounts(),
    createdAt: 5,
    finishedAt: null,
    version: 1,
  };
}

function queuedTaskOf(jobId: string, ord: number, count: number, id = `${jobId}.${ord}`): TaskRecord {
  return queuedTask({
    id,
    jobId,
    ord,
    template: "t",
    name: `t[${ord}]`,
    index: ord,
    count,
    matrix: null,
    pinnedAgent: null,
    createdAt: 1,
  });
}

async function withDir(body: (dir: string) => Promise<void> | void): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "fabric-store-test-" });
  try {
    await body(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("a new store is migrated to the latest schema version, in WAL mode", () =>
  withDir(async (dir) => {
    const store = SqliteStore.open(join(dir, "f.db"));
    assert.equal(store.schemaVersion, MIGRATIONS.length);
    await store.close();
    const raw = new DatabaseSync(join(dir, "f.db"));
    assert.equal((raw.prepare("PRAGMA journal_mode").get() as { journal_mode: string }).journal_mode, "wal");
    raw.close();
  }));

Deno.test("a batch is written whole or not at all", () =>
  withDir(async (dir) => {
    const store = SqliteStore.open(join(dir, "f.db"));
    const batch = emptyBatch();
    batch.newJobs.push(jobRecord("j1", "running"));
    batch.agents.push(agentRecord("a1", "same"), agentRecord("a2", "same")); // names are unique
    await assert.rejects(store.write(batch), (error: FabricError) => error.code === "unavailable");
    assert.deepEqual(await store.loadAgents(), []);
    assert.equal(await store.getJob("j1"), null);

    const good = emptyBatch();
    good.agents.push(agentRecord("a1", "one"));
    good.newJobs.push(jobRecord("j1", "running"), jobRecord("j2", "succeeded"));
    good.logs.push({ taskId: "j1.0", attempt: 1, seq: 0, stream: "stdout", data: "x", at: 1 });
    good.logs.push({ taskId: "j1.0", attempt: 1, seq: 0, stream: "stdout", data: "duplicate", at: 1 });
    await store.write(good);
    await store.close();

    const reopened = SqliteStore.open(join(dir, "f.db"));
    assert.deepEqual((await reopened.loadAgents()).map((a) => [a.id, a.labels]), [["a1", { zone: "a" }]]);
    assert.deepEqual((await reopened.loadActiveJobs()).jobs.map((j) => j.id), ["j1"]);
    assert.deepEqual((await reopened.readLogs("j1.0", 1, -1, 10)).map((l) => l.data), ["x"]);
    await reopened.close();
  }));

Deno.test("a store from a newer fabric is refused with a message", () =>
  withDir((dir) => {
    const raw = new DatabaseSync(join(dir, "f.db"));
    raw.exec("PRAGMA user_version = 99");
    raw.close();
    assert.throws(() => SqliteStore.open(join(dir, "f.db")), /schema version 99, newer than this fabric/);
  }));

Deno.test("a store at an older schema version is migrated, and its rows are kept", () =>
  withDir(async (dir) => {
    const raw = new DatabaseSync(join(dir, "f.db"));
    raw.exec(MIGRATIONS[0]);
    raw.exec("PRAGMA user_version = 1");
    raw.exec(`INSERT INTO agents (id, name, labels, slots, version, os, arch, credential_hash, state, registered_at)
      VALUES ('a1', 'old', '{}', 2, '0.1', 'linux', 'x86_64', 'h', 'ready', 1)`);
    raw.close();
    const store = SqliteStore.open(join(dir, "f.db"));
    assert.equal(store.schemaVersion, MIGRATIONS.length);
    const [agent] = await store.loadAgents();
    assert.equal(agent.name, "old");
    assert.equal(agent.weight, 1);
    assert.equal(agent.draining, false);
    assert.deepEqual(agent.capabilities, { sandbox: false, unsandboxed: true, cgroup: null, deno: false, git: false });
    await store.close();
  }));

Deno.test("a job's spec is written once; later writes change only its state", () =>
  withDir(async (dir) => {
    const store = SqliteStore.open(join(dir, "f.db"));
    const job = jobRecord("j1", "queued");
    const first = emptyBatch();
    first.newJobs.push(job);
    await store.write(first);
    job.state = "running";
    job.version = 7;
    job.spec = { name: "changed in memory", tasks: [] } as unknown as JobRecord["spec"];
    const update = emptyBatch();
    update.jobs.push(job);
    await store.write(update);
    const stored = (await store.getJob("j1"))!;
    assert.equal(stored.state, "running");
    assert.equal(stored.version, 7);
    assert.equal(stored.spec.name, "j", "an update does not rewrite the spec");
    await store.close();
  }));

Deno.test("a job's signature is kept with it as it was given; a job stored before signing reads as unsigned", () =>
  withDir(async (dir) => {
    const raw = new DatabaseSync(join(dir, "f.db"));
    for (const migration of MIGRATIONS.slice(0, 3)) raw.exec(migration);
    raw.exec("PRAGMA user_version = 3");
    raw.exec(`INSERT INTO jobs (id, name, spec, state, cancel_requested, total, counts, created_at, version)
      VALUES ('old', 'j', '{"name":"j","tasks":[]}', 'queued', 0, 0, '{}', 1, 1)`);
    raw.close();
    const store = SqliteStore.open(join(dir, "f.db"));
    assert.equal((await store.getJob("old"))!.signed, null);
    const signed = {
      payload: '{"files":{},"format":"fabric-signed-job-v1","spec":{"name":"j"}}',
      algorithm: "ed25519" as const,
      publicKey: "A".repeat(43) + "=",
      signature: "B".repeat(86) + "==",
    };
    const batch = emptyBatch();
    batch.newJobs.push({ ...jobRecord("new", "queued"), signed });
    await store.write(batch);
    assert.deepEqual((await store.getJob("new"))!.signed, signed);
    assert.deepEqual((await store.loadActiveJobs()).jobs.find((j) => j.id === "new")!.signed, signed);
    await store.close();
  }));

Deno.test("a batch too large for one message is still written whole or not at all", () =>
  withDir(async (dir) => {
    const store = SqliteStore.open(join(dir, "f.db"));
    const task = (jobId: string, ord: number, id = `${jobId}.${ord}`) => queuedTaskOf(jobId, ord, 12_000, id);
    const big = emptyBatch();
    big.newJobs.push(jobRecord("big", "queued"));
    for (let ord = 0; ord < 12_000; ord++) big.tasks.push(task("big", ord));
    await store.write(big);
    assert.equal((await store.listTasks("big")).length, 12_000);

    const broken = emptyBatch();
    broken.newJobs.push(jobRecord("broken", "queued"));
    for (let ord = 0; ord < 12_000; ord++) broken.tasks.push(task("broken", ord));
    broken.tasks.push(task("broken", 5, "broken.clash")); // (job, ord) is unique: fails in the last part
    await assert.rejects(store.write(broken), (error: FabricError) => error.code === "unavailable");
    assert.equal(await store.getJob("broken"), null);
    assert.equal((await store.listTasks("broken")).length, 0);
    await store.close();
  }));

Deno.test("small batches written beside large ones land in the order they were written", () =>
  withDir(async (dir) => {
    const store = SqliteStore.open(join(dir, "f.db"));
    const task = (ord: number) => queuedTaskOf("j", ord, 500);
    const first = emptyBatch();
    first.newJobs.push(jobRecord("j", "queued"));
    await store.write(first);
    for (let round = 0; round < 20; round++) {
      // A batch for the writer thread, then at once a small one changing a row of it: the small one
      // must not overtake it (and be overwritten by the older row).
      const large = emptyBatch();
      for (let ord = 0; ord < 500; ord++) large.tasks.push({ ...task(ord), attempt: round });
      const small = emptyBatch();
      small.tasks.push({ ...task(round), attempt: round, state: "running" });
      await Promise.all([store.write(large), store.write(small)]);
      const stored = (await store.getTask(`j.${round}`))!;
      assert.equal(stored.state, "running", `round ${round}`);
      assert.equal(stored.attempt, round);
    }
    await store.close();
  }));

Deno.test("many small commits keep the WAL bounded, and all of them survive a reopen", () =>
  withDir(async (dir) => {
    const path = join(dir, "f.db");
    const store = SqliteStore.open(path);
    for (let i = 0; i < 1500; i++) {
      const batch = emptyBatch();
      batch.meta.set(`key${i}`, String(i));
      await store.write(batch);
    }
    // Each commit adds at least a 16 KB page to the WAL: 1,500 without a checkpoint would be 24 MB.
    const walBytes = (await Deno.stat(`${path}-wal`)).size;
    assert.ok(walBytes < 12 * 1024 * 1024, `WAL of ${walBytes} bytes`);
    await store.close();
    const reopened = SqliteStore.open(path);
    assert.equal(await reopened.getMeta("key0"), "0");
    assert.equal(await reopened.getMeta("key1499"), "1499");
    await reopened.close();
  }));
