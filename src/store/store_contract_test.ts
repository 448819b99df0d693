/**
 * What every store does, run against each one: SQLite on a real file, PostgreSQL on a real server
 * (one per run of this file, a database per case). A case gets an empty store, and may reopen it to
 * see what was durable.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { lacks } from "../../testing/machine.ts";
import { PostgresServer } from "../../testing/postgres.ts";
import { emptyCounts, FabricError } from "../protocol/mod.ts";
import { PostgresStore } from "./postgres.ts";
import { RETENTION_CASES } from "./_retention_testing.ts";
import { CHANNEL_CASES } from "./_channel_testing.ts";
import type {
  AgentRecord,
  AttemptRecord,
  JobRecord,
  LogRow,
  PeriodicRecord,
  TaskRecord,
  TokenRecord,
  WriteBatch,
} from "./records.ts";
import { queuedTask } from "./records.ts";
import { SqliteStore } from "./sqlite.ts";
import { emptyBatch, type Store } from "./store.ts";
import { BLOB_GRACE_MS } from "./blobs.ts";

interface Subject {
  /** A new, empty store. */
  open(): Promise<Store>;
  /** `store` closed, and the same store opened again. */
  reopen(store: Store): Promise<Store>;
  /** Run `statement` on the store's database behind its back (as another version or a hand's edit might). */
  tamper(store: Store, statement: string): Promise<void>;
}

type Case = (subject: Subject) => Promise<void>;

function agentRecord(id: string, name: string): AgentRecord {
  return {
    id,
    name,
    labels: { zone: "a", "gpu.kind": "ä" },
    slots: 2,
    version: "1.2.3",
    os: "linux",
    arch: "x86_64",
    credentialHash: "ab".repeat(32),
    state: "ready",
    registeredAt: 1_700_000_000_001,
    lastHeartbeat: 1_700_000_000_500,
    load: { load1: 0.5, load5: 0.25, load15: 0.125, memFree: 1024, memTotal: 4096, running: 1, freeSlots: 1 },
    weight: 1.5,
    capabilities: { sandbox: true, unsandboxed: false, cgroup: null, deno: false, git: true },
    resources: { cpu: 2, memory: 1, disk: 1 },
    draining: true,
    drainDeadline: 1_700_000_009_000,
    admission: "pending",
  };
}

function jobRecord(id: string, state: JobRecord["state"], createdAt = 5): JobRecord {
  return {
    id,
    name: "j",
    spec: { name: "j", tasks: [{ name: "t", run: "true" }] },
    files: { "scripts/a.ts": "console.log('ü')" },
    packs: { t: { sha256: "ef".repeat(32), size: 12_345 } },
    source: "jobs/j.yaml",
    signed: null,
    submittedBy: "ci",
    state,
    cancelRequested: false,
    total: 1,
    counts: emptyCounts(),
    createdAt,
    finishedAt: null,
    version: 1,
  };
}

function taskOf(jobId: string, ord: number, count = 1, id = `${jobId}.${ord}`): TaskRecord {
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

function attemptOf(task: TaskRecord, attempt: number, state: AttemptRecord["state"]): AttemptRecord {
  return {
    taskId: task.id,
    attempt,
    agentId: "a1",
    state,
    assignedAt: 10,
    startedAt: 11,
    finishedAt: state === "running" ? null : 12,
    exitCode: state === "failed" ? 3 : null,
    signal: null,
    reason: state === "failed" ? "exit code 3" : null,
  };
}

function logOf(taskId: string, seq: number, data = `line ${seq}\n`, attempt = 1): LogRow {
  return { taskId, attempt, seq, stream: seq % 2 === 0 ? "stdout" : "stderr", data, at: 100 + seq };
}

function batchOf(fill: Partial<WriteBatch>): WriteBatch {
  return { ...emptyBatch(), ...fill };
}

const CASES: Record<string, Case> = {
  "a token is merged, never overwritten: a revocation stays and its last use only moves forward": async (subject) => {
    let store = await subject.open();
    const ci: TokenRecord = {
      hash: "ab".repeat(32),
      name: "ci",
      role: "submit",
      createdAt: 10,
      expiresAt: 1000,
      revokedAt: null,
      lastUsedAt: null,
    };
    const write = (...tokens: TokenRecord[]) => store.write(batchOf({ tokens }));
    await write(ci);
    await write({ ...ci, lastUsedAt: 50 });
    await write({ ...ci, revokedAt: 60, lastUsedAt: 40 }); // another writer's older use
    // A writer that never saw the revocation, with a later use: the token stays revoked, and what a
    // token is (its name, role, creation and expiry) never changes.
    await write({ ...ci, role: "admin", name: "other", expiresAt: null, lastUsedAt: 70 });
    const again = { ...ci, hash: "cd".repeat(32), createdAt: 80 };
    await store.write(batchOf({ tokens: [again], agents: [agentRecord("a1", "one")] }));
    store = await subject.reopen(store);
    assert.deepEqual(await store.loadTokens(), [{ ...ci, revokedAt: 60, lastUsedAt: 70 }, again]);
    await store.close();
  },
  "every kind of record comes back as it was written, also after a reopen": async (subject) => {
    let store = await subject.open();
    const agent = agentRecord("a1", "one");
    const signed = {
      payload: '{"files":{},"format":"fabric-signed-job-v1","spec":{"name":"j"}}',
      algorithm: "ed25519" as const,
      publicKey: "A".repeat(43) + "=",
      signature: "B".repeat(86) + "==",
    };
    const job = { ...jobRecord("j1", "running"), signed, cancelRequested: true, finishedAt: 99, version: 4 };
    const task: TaskRecord = {
      ...taskOf("j1", 0, 3),
      matrix: { os: "linux", py: "3.12" },
      pinnedAgent: "a1",
      state: "failed",
      attempt: 2,
      agentId: "a1",
      exitCode: -1,
      signal: "SIGKILL",
      reason: "killed: ✂",
      startedAt: 20,
      finishedAt: 30,
      durationMs: 10.125,
      output: '{"n": 1, "s": "ü"}',
      outputTruncated: true,
      failures: 2,
      losses: 1,
      retryAt: 1_700_000_000_000_000,
    };
    const attempts = [attemptOf(task, 1, "lost"), attemptOf(task, 2, "failed")];
    const logs = [logOf(task.id, 0, "NUL \0 inside, ünïcödé, 🙂\n"), logOf(task.id, 1, ""), logOf(task.id, 2)];
    await store.write(batchOf({
      meta: new Map([["k", "v"], ["empty", ""]]),
      agents: [agent],
      newJobs: [job],
      tasks: [task],
      attempts,
      logs,
    }));
    for (let round = 0; round < 2; round++) {
      assert.deepEqual(await store.loadAgents(), [agent]);
      assert.deepEqual(await store.getAgents([agent.id, "nobody"]), [agent]);
      assert.deepEqual(await store.getAgents(["nobody"]), []);
      assert.deepEqual(await store.getAgents([]), []);
      assert.deepEqual(await store.getJob("j1"), job);
      assert.deepEqual(await store.listJobs({ limit: 10 }), [job]);
      assert.deepEqual((await store.loadActiveJobs()).jobs, [job]);
      assert.deepEqual(await store.listTasks("j1"), [task]);
      assert.deepEqual(await store.getTask(task.id), task);
      assert.deepEqual(await store.listAttempts(task.id), attempts);
      assert.deepEqual(await store.readLogs(task.id, 1, -1, 10), logs);
      assert.equal(await store.getMeta("k"), "v");
      assert.equal(await store.getMeta("empty"), "");
      assert.equal(await store.getMeta("absent"), null);
      assert.equal(await store.getJob("absent"), null);
      assert.equal(await store.getTask("absent"), null);
      store = await subject.reopen(store);
    }
    await store.close();
  },

  "a record written again replaces the stored one; a job update changes only its state": async (subject) => {
    const store = await subject.open();
    const job = jobRecord("j1", "queued");
    const task = taskOf("j1", 0);
    const agent = agentRecord("a1", "one");
    await store.write(batchOf({ newJobs: [job], tasks: [task], agents: [agent], meta: new Map([["k", "1"]]) }));
    const running = { ...task, state: "running" as const, attempt: 1, agentId: "a1", startedAt: 7 };
    const moved = { ...agent, name: "renamed", state: "down" as const, load: null, lastHeartbeat: null };
    const changed = {
      ...job,
      state: "running" as const,
      version: 7,
      counts: { ...emptyCounts(), running: 1 },
      spec: { name: "changed in memory", tasks: [] } as unknown as JobRecord["spec"],
    };
    await store.write(batchOf({ jobs: [changed], tasks: [running], agents: [moved], meta: new Map([["k", "2"]]) }));
    const stored = (await store.getJob("j1"))!;
    assert.equal(stored.state, "running");
    assert.equal(stored.version, 7);
    assert.equal(stored.counts.running, 1);
    assert.equal(stored.spec.name, "j", "an update does not rewrite the spec");
    assert.deepEqual(await store.getTask(task.id), running);
    assert.deepEqual(await store.loadAgents(), [moved]);
    assert.equal(await store.getMeta("k"), "2");
    await store.close();
  },

  "a batch that fails leaves nothing of itself, and the store takes the next one": async (subject) => {
    const store = await subject.open();
    const clash = batchOf({
      meta: new Map([["k", "v"]]),
      newJobs: [jobRecord("j1", "running")],
      tasks: [taskOf("j1", 0)],
      logs: [logOf("j1.0", 0)],
      agents: [agentRecord("a1", "same"), agentRecord("a2", "same")], // names are unique
    });
    await assert.rejects(store.write(clash), (error: FabricError) => {
      assert.equal(error.code, "unavailable");
      assert.match(error.message, /^The store could not write: .*(unique|UNIQUE)/);
      return true;
    });
    assert.deepEqual(await store.loadAgents(), []);
    assert.equal(await store.getJob("j1"), null);
    assert.equal(await store.getTask("j1.0"), null);
    assert.deepEqual(await store.readLogs("j1.0", 1, -1, 10), []);
    assert.equal(await store.getMeta("k"), null);
    await store.write(batchOf({ agents: [agentRecord("a1", "one")], newJobs: [jobRecord("j1", "running")] }));
    assert.equal((await store.loadAgents()).length, 1);
    await store.close();
  },

  "a batch of several parts whose last part fails leaves nothing": async (subject) => {
    const store = await subject.open();
    const broken = batchOf({ newJobs: [jobRecord("broken", "queued")] });
    for (let ord = 0; ord < 12_000; ord++) broken.tasks.push(taskOf("broken", ord, 12_000));
    broken.tasks.push(taskOf("broken", 5, 12_000, "broken.clash")); // (job, ord) is unique: fails in the last part
    for (let seq = 0; seq < 12_000; seq++) broken.logs.push(logOf("broken.0", seq));
    await assert.rejects(store.write(broken), (error: FabricError) => error.code === "unavailable");
    assert.equal(await store.getJob("broken"), null);
    assert.equal((await store.listTasks("broken")).length, 0);
    assert.deepEqual(await store.readLogs("broken.0", 1, -1, 5), []);
    await store.close();
  },

  "loadActiveJobs: the jobs not ended, oldest first, with their tasks in order and current attempts": async (
    subject,
  ) => {
    let store = await subject.open();
    const batch = batchOf({
      newJobs: [
        jobRecord("late", "running", 30),
        jobRecord("done", "succeeded", 10),
        jobRecord("early", "queued", 20),
        jobRecord("gone", "cancelled", 25),
      ],
    });
    for (const jobId of ["late", "done", "early", "gone"]) {
      for (const ord of [2, 0, 1]) batch.tasks.push(taskOf(jobId, ord, 3));
    }
    const retried = { ...taskOf("late", 0, 3), state: "running" as const, attempt: 2, agentId: "a1" };
    batch.tasks.push(retried);
    batch.attempts.push(attemptOf(retried, 1, "failed"), attemptOf(retried, 2, "running"));
    batch.attempts.push(attemptOf(taskOf("done", 0), 1, "failed"));
    await store.write(batch);
    store = await subject.reopen(store);
    const active = await store.loadActiveJobs();
    assert.deepEqual(active.jobs.map((j) => j.id), ["early", "late"]);
    assert.deepEqual(active.tasks.map((t) => t.id), ["early.0", "early.1", "early.2", "late.0", "late.1", "late.2"]);
    assert.deepEqual(active.tasks[3], retried);
    assert.deepEqual(active.attempts, [attemptOf(retried, 2, "running")]);
    await store.close();
  },

  "logs page by sequence number within one attempt; a chunk is stored once": async (subject) => {
    const store = await subject.open();
    const first = Array.from({ length: 25 }, (_, seq) => logOf("t", seq));
    const second = Array.from({ length: 3 }, (_, seq) => logOf("t", seq, `second ${seq}\n`, 2));
    await store.write(batchOf({ logs: [...first.slice(0, 10), logOf("t", 3, "a duplicate"), ...second] }));
    await store.write(batchOf({ logs: [...first.slice(5), logOf("t", 0, "written again")] }));
    assert.deepEqual(await store.readLogs("t", 1, -1, 10), first.slice(0, 10));
    assert.deepEqual(await store.readLogs("t", 1, 9, 10), first.slice(10, 20));
    assert.deepEqual(await store.readLogs("t", 1, 19, 10), first.slice(20));
    assert.deepEqual(await store.readLogs("t", 1, 24, 10), []);
    assert.deepEqual(await store.readLogs("t", 2, -1, 10), second);
    assert.deepEqual(await store.readLogs("t", 3, -1, 10), []);
    assert.deepEqual(await store.readLogs("other", 1, -1, 10), []);
    await store.close();
  },

  "listJobs: newest first, at most the limit": async (subject) => {
    const store = await subject.open();
    await store.write(batchOf({ newJobs: [jobRecord("b", "queued", 2), jobRecord("a", "queued", 2)] }));
    await store.write(batchOf({ newJobs: [jobRecord("c", "succeeded", 1), jobRecord("d", "failed", 3)] }));
    assert.deepEqual((await store.listJobs({ limit: 10 })).map((j) => j.id), ["d", "b", "a", "c"]);
    assert.deepEqual((await store.listJobs({ limit: 2 })).map((j) => j.id), ["d", "b"]);
    await store.close();
  },

  "a page of jobs: newest first, by state, by a part of the name in which % and _ are themselves": async (subject) => {
    const store = await subject.open();
    const named = (id: string, name: string, state: JobRecord["state"], createdAt: number) => ({
      ...jobRecord(id, state, createdAt),
      name,
    });
    await store.write(batchOf({
      newJobs: [
        named("a", "Build-linux", "succeeded", 1),
        named("b", "build_mac", "failed", 2),
        named("c", "test-100%", "running", 3),
        named("d", "buildXmac", "failed", 4),
      ],
    }));
    const ids = async (query: Parameters<Store["listJobsPage"]>[0]) =>
      (await store.listJobsPage(query)).map((j) => j.id);
    assert.deepEqual(await ids({ offset: 0, limit: 10 }), ["d", "c", "b", "a"]);
    assert.deepEqual(await ids({ offset: 1, limit: 2 }), ["c", "b"]);
    assert.deepEqual(await ids({ state: "failed", offset: 0, limit: 10 }), ["d", "b"]);
    assert.deepEqual(await ids({ nameContains: "build", offset: 0, limit: 10 }), ["d", "b", "a"], "ASCII case ignored");
    assert.deepEqual(await ids({ nameContains: "d_m", offset: 0, limit: 10 }), ["b"], "'_' is not a wildcard");
    assert.deepEqual(await ids({ nameContains: "0%", offset: 0, limit: 10 }), ["c"]);
    assert.deepEqual(await ids({ nameContains: "\\", offset: 0, limit: 10 }), []);
    assert.deepEqual(await ids({ nameContains: "%", state: "failed", offset: 0, limit: 10 }), []);
    await store.close();
  },

  "the audit trail: appended in batches with other records, read newest first, by time, actor and action prefix, paged":
    async (subject) => {
      let store = await subject.open();
      const entry = (at: number, actor: string, action: string, target: string | null = null) => ({
        at,
        actor,
        role: actor === "join token" ? null : "admin",
        action,
        target,
        detail: null,
        address: "127.0.0.1",
        outcome: "ok",
      });
      await store.write(batchOf({
        meta: new Map([["m", "1"]]),
        audit: [entry(10, "alice", "job.submit", "j1"), entry(20, "bob", "job.cancel", "j1")],
      }));
      await store.write(
        batchOf({ audit: [entry(30, "alice", "job_x.odd"), entry(40, "join token", "agent.register")] }),
      );
      store = await subject.reopen(store);
      const page = async (query: Parameters<Store["listAudit"]>[0]) =>
        (await store.listAudit(query)).map((e) => `${e.actor} ${e.action}`);
      assert.deepEqual(await page({ limit: 10 }), [
        "join token agent.register",
        "alice job_x.odd",
        "bob job.cancel",
        "alice job.submit",
      ]);
      const [newest] = await store.listAudit({ limit: 1 });
      assert.deepEqual({ ...newest, id: 0 }, { ...entry(40, "join token", "agent.register"), id: 0 });
      assert.deepEqual(await page({ since: 20, limit: 10 }), [
        "join token agent.register",
        "alice job_x.odd",
        "bob job.cancel",
      ]);
      assert.deepEqual(await page({ actor: "alice", limit: 10 }), ["alice job_x.odd", "alice job.submit"]);
      assert.deepEqual(await page({ actionPrefix: "job.", limit: 10 }), ["bob job.cancel", "alice job.submit"]);
      assert.deepEqual(await page({ actionPrefix: "job_", limit: 10 }), ["alice job_x.odd"], "'_' is itself");
      assert.deepEqual(await page({ actionPrefix: "%", limit: 10 }), []);
      const first = await store.listAudit({ limit: 2 });
      assert.deepEqual(await page({ before: first[1].id, limit: 10 }), ["bob job.cancel", "alice job.submit"]);
      assert.deepEqual(await page({ since: 1000, limit: 10 }), []);
      await store.close();
    },

  "a page of a job's tasks: in order, by state": async (subject) => {
    const store = await subject.open();
    const states = ["queued", "running", "succeeded"] as const;
    const tasks = Array.from({ length: 10 }, (_, ord) => ({ ...taskOf("a", ord, 10), state: states[ord % 3] }));
    await store.write(batchOf({ newJobs: [jobRecord("a", "running")], tasks }));
    const names = async (query: Parameters<Store["listTasksPage"]>[1]) =>
      (await store.listTasksPage("a", query)).map((t) => t.name);
    assert.deepEqual(await names({ offset: 8, limit: 5 }), ["t[8]", "t[9]"]);
    assert.deepEqual(await names({ state: "running", offset: 1, limit: 2 }), ["t[4]", "t[7]"]);
    assert.deepEqual(await names({ state: "failed", offset: 0, limit: 5 }), []);
    assert.deepEqual(await store.listTasksPage("nope", { offset: 0, limit: 5 }), []);
    await store.close();
  },

  "the lease is granted to a first holder, renewed under its epoch, and its fence lets its writes land": async (
    subject,
  ) => {
    const store = await subject.open();
    const lease = await store.acquireLease("t1", 10_000);
    assert.equal(lease?.holder, "t1");
    const fence = { holder: "t1", epoch: lease!.epoch };
    assert.equal((await store.renewLease(fence, 10_000))?.epoch, fence.epoch);
    await store.write(batchOf({ newJobs: [jobRecord("j", "queued")] }), fence);
    await store.write(batchOf({ tasks: Array.from({ length: 6000 }, (_, i) => taskOf("j", i, 6000)) }), fence);
    assert.equal((await store.listTasks("j")).length, 6000);
    await store.releaseLease(fence);
    await store.close();
  },

  "batches written at once land in the order they were written": async (subject) => {
    const store = await subject.open();
    await store.write(batchOf({ newJobs: [jobRecord("j", "queued")] }));
    for (let round = 0; round < 10; round++) {
      const large = batchOf({});
      for (let ord = 0; ord < 500; ord++) large.tasks.push({ ...taskOf("j", ord, 500), attempt: round });
      const small = batchOf({ tasks: [{ ...taskOf("j", round, 500), attempt: round, state: "running" }] });
      const meta = [1, 2, 3].map((n) => batchOf({ meta: new Map([["k", `${round}.${n}`]]) }));
      await Promise.all([store.write(large), store.write(small), ...meta.map((b) => store.write(b))]);
      const stored = (await store.getTask(`j.${round}`))!;
      assert.equal(stored.state, "running", `round ${round}`);
      assert.equal(await store.getMeta("k"), `${round}.3`);
    }
    await store.close();
  },

  "a job of 100,000 tasks is written in one batch and read back whole": async (subject) => {
    let store = await subject.open();
    const count = 100_000;
    const batch = batchOf({ newJobs: [jobRecord("big", "queued")] });
    for (let ord = 0; ord < count; ord++) batch.tasks.push(taskOf("big", ord, count));
    const started = performance.now();
    await store.write(batch);
    const written = performance.now() - started;
    store = await subject.reopen(store);
    const active = await store.loadActiveJobs();
    assert.equal(active.tasks.length, count);
    assert.deepEqual(active.tasks[count - 1], batch.tasks[count - 1]);
    assert.ok(active.tasks.every((task, i) => task.ord === i));
    console.log(`${count} tasks written in ${(written / 1000).toFixed(2)} s`);
    await store.close();
  },

  "a job whose rows do not parse is named by loadActiveJobs; set aside, it ends failed with its tasks": async (
    subject,
  ) => {
    let store = await subject.open();
    const tasksOf = (jobId: string) => [0, 1, 2].map((ord) => taskOf(jobId, ord, 3));
    const [done, running, queued] = tasksOf("bad");
    const batch = batchOf({
      newJobs: [jobRecord("old", "running", 1), jobRecord("bad", "running", 2), jobRecord("fine", "queued", 3)],
      tasks: [
        ...tasksOf("old"),
        { ...done, state: "succeeded", attempt: 1, agentId: "a1", finishedAt: 9 },
        { ...running, state: "running", attempt: 1, agentId: "a1", startedAt: 8 },
        queued,
        ...tasksOf("fine"),
      ],
    });
    batch.attempts.push(attemptOf(batch.tasks[3], 1, "succeeded"), attemptOf(batch.tasks[4], 1, "running"));
    await store.write(batch);
    // A task's row that does not parse; a job's (setting it aside writes its counts anew).
    await subject.tamper(store, "UPDATE tasks SET matrix = '[' WHERE id = 'old.2'");
    await subject.tamper(store, "UPDATE jobs SET counts = '{' WHERE id = 'bad'");
    const active = await store.loadActiveJobs();
    assert.deepEqual(active.jobs.map((job) => job.id), ["fine"]);
    assert.deepEqual(active.tasks.map((task) => task.id), ["fine.0", "fine.1", "fine.2"]);
    assert.deepEqual(active.unreadable.map((job) => job.jobId), ["old", "bad"]);
    for (const { reason } of active.unreadable) assert.match(reason, /^its stored rows are not valid: /);

    const aside = emptyBatch();
    aside.setAside.push({ jobId: "bad", reason: "set aside", at: 50 });
    await store.write(aside);
    store = await subject.reopen(store);
    const job = (await store.getJob("bad"))!;
    assert.deepEqual([job.state, job.finishedAt, job.version], ["failed", 50, 2]);
    assert.deepEqual(job.counts, { ...emptyCounts(), succeeded: 1, failed: 2 });
    assert.deepEqual(
      (await store.listTasks("bad")).map((task) => [task.state, task.reason, task.finishedAt, task.retryAt]),
      [["succeeded", null, 9, null], ["failed", "set aside", 50, null], ["failed", "set aside", 50, null]],
    );
    assert.deepEqual(
      (await store.listAttempts("bad.1")).map((attempt) => [attempt.state, attempt.reason, attempt.finishedAt]),
      [["lost", "set aside", 50]],
    );
    assert.equal((await store.listAttempts("bad.0"))[0].state, "succeeded");
    assert.equal((await store.getJob("fine"))!.state, "queued", "only the job set aside");
    await store.close();
  },

  "secrets are written whole, replaced and deleted, with other records or alone, and read back after a reopen": async (
    subject,
  ) => {
    let store = await subject.open();
    const secret = (name: string, sealed: string, updatedAt = 2) => ({
      name,
      keyId: "0123456789abcdef",
      nonce: "bm9uY2Utbm9uY2U=",
      sealed,
      allow: ["role:operator", "token:ci"],
      createdAt: 1,
      updatedAt,
    });
    assert.deepEqual(await store.loadJobSecrets(), []);
    await store.write(
      batchOf({ jobSecrets: [secret("B", "b25l"), secret("A", "dHdv")], agents: [agentRecord("a1", "one")] }),
    );
    // Replaced and deleted in one batch (and a name never set deleted: nothing happens).
    await store.write(batchOf({ jobSecrets: [secret("A", "bmV3", 3)], deletedJobSecrets: ["B", "NEVER_SET"] }));
    store = await subject.reopen(store);
    assert.deepEqual(await store.loadJobSecrets(), [secret("A", "bmV3", 3)]);
    assert.equal((await store.loadAgents()).length, 1);
    await store.write(batchOf({ deletedJobSecrets: ["A"] }));
    await store.write(batchOf({ jobSecrets: [secret("C", "Yw==")] }));
    assert.deepEqual((await store.loadJobSecrets()).map((s) => s.name), ["C"]);
    await store.close();
  },
  "periodic jobs are written whole, replaced and deleted; a run and its periodic job's last time commit together":
    async (
      subject,
    ) => {
      let store = await subject.open();
      const periodic = (name: string, lastScheduledAt: number | null, lastJobId: string | null): PeriodicRecord => ({
        name,
        spec: { name, schedule: "*/2 * * * * *", timezone: "Europe/Paris", tasks: [{ name: "t", run: "true" }] },
        files: { "a.ts": "ü" },
        source: "jobs/n.yaml",
        signed: null,
        submittedBy: "ci",
        paused: false,
        createdAt: 1,
        updatedAt: 2,
        lastScheduledAt,
        lastJobId,
        lastNote: lastJobId === null ? "skipped: the run r0 had not ended" : null,
      });
      assert.deepEqual(await store.loadPeriodic(), []);
      await store.write(batchOf({ periodic: [periodic("nightly", null, null), periodic("hourly", 5, null)] }));
      // A launch: the run (linked back) and the periodic job's new last time, in one batch.
      const run = { ...jobRecord("r1", "queued"), name: "nightly@1970-01-01T00:00:10Z" };
      run.periodic = { name: "nightly", scheduledAt: 10_000 };
      await store.write(
        batchOf({ newJobs: [run], tasks: [taskOf("r1", 0)], periodic: [periodic("nightly", 10_000, "r1")] }),
      );
      store = await subject.reopen(store);
      assert.deepEqual(await store.loadPeriodic(), [periodic("hourly", 5, null), periodic("nightly", 10_000, "r1")]);
      assert.deepEqual((await store.getJob("r1"))!.periodic, { name: "nightly", scheduledAt: 10_000 });
      assert.equal((await store.getJob("r1"))!.name, "nightly@1970-01-01T00:00:10Z");
      assert.equal((await store.loadActiveJobs()).jobs[0].periodic?.name, "nightly");
      await store.write(batchOf({ newJobs: [jobRecord("plain", "queued")] }));
      assert.equal((await store.getJob("plain"))!.periodic ?? null, null, "an ordinary job has no link");
      await store.write(
        batchOf({ periodic: [{ ...periodic("hourly", 5, null), paused: true }], deletedPeriodic: ["nightly"] }),
      );
      assert.deepEqual(await store.loadPeriodic(), [{ ...periodic("hourly", 5, null), paused: true }]);
      await store.close();
    },
  "a blob is kept in chunks, complete only with all of them, used by jobs, and swept once no job uses it": async (
    subject,
  ) => {
    let store = await subject.open();
    const sha = "ab".repeat(32);
    const big = new Uint8Array(300_000).map((_, i) => i % 251);
    await store.putBlobChunk(sha, 0, big, 1000);
    await store.putBlobChunk(sha, 1, new Uint8Array([1, 2, 3]), 1000);
    assert.deepEqual(await store.getBlob(sha), { sha256: sha, size: 0, complete: false, touchedAt: 1000 });
    // Not every chunk is there: not complete.
    assert.equal(await store.completeBlob(sha, { size: 400_000, chunks: 3, now: 1100 }), false);
    assert.equal(await store.completeBlob(sha, { size: 300_003, chunks: 2, now: 1100 }), true);
    // A chunk sent again never replaces a stored one, and a complete blob's chunks are not dropped.
    await store.putBlobChunk(sha, 1, new Uint8Array([9, 9, 9]), 1200);
    await store.dropUpload(sha);
    store = await subject.reopen(store);
    assert.deepEqual(await store.readBlobChunk(sha, 0), big);
    assert.deepEqual(await store.readBlobChunk(sha, 1), new Uint8Array([1, 2, 3]));
    assert.equal(await store.readBlobChunk(sha, 2), null);
    assert.deepEqual(await store.getBlob(sha), { sha256: sha, size: 300_003, complete: true, touchedAt: 1200 });
    // An upload never completed is dropped whole.
    const other = "cd".repeat(32);
    await store.putBlobChunk(other, 0, new Uint8Array([7]), 1000);
    await store.dropUpload(other);
    assert.equal(await store.readBlobChunk(other, 0), null);
    // Used by a job: only complete blobs; the others are named.
    await store.write(batchOf({ newJobs: [{ ...jobRecord("j1", "succeeded"), finishedAt: 2000 }] }));
    assert.deepEqual(await store.useBlobs("j1", [sha, other], 3000), [other]);
    const purge = { retentionMs: 10 * BLOB_GRACE_MS, maxRows: 100_000, maxMs: 60_000 };
    // The job is not due yet, and its blob stays.
    let result = await store.purgeExpired({ ...purge, now: 3001 + BLOB_GRACE_MS });
    assert.equal(result.blobRows, 1, "only the stray upload's row of blobs goes");
    assert.notEqual(await store.getBlob(sha), null);
    // Once the job is gone, so is its blob, with its chunks.
    result = await store.purgeExpired({ ...purge, now: 2000 + 11 * BLOB_GRACE_MS });
    assert.equal(result.jobs, 1);
    assert.equal(result.blobRows, 3);
    assert.equal(await store.getBlob(sha), null);
    assert.equal(await store.readBlobChunk(sha, 0), null);
    await store.close();
  },
  "a periodic job's packs keep their blobs while its record names them; replaced or deleted, they go": async (
    subject,
  ) => {
    let store = await subject.open();
    const [first, second] = ["5a".repeat(32), "6b".repeat(32)];
    const upload = async (sha: string, now: number) => {
      await store.putBlobChunk(sha, 0, new Uint8Array([1]), now);
      assert.equal(await store.completeBlob(sha, { size: 1, chunks: 1, now }), true);
    };
    await upload(first, 1000);
    const record = (sha: string): PeriodicRecord => ({
      name: "nightly",
      spec: { name: "nightly", schedule: "0 1 * * *", tasks: [{ name: "t", run: "make", files: ["src/"] }] },
      files: {},
      source: "nightly.yaml",
      signed: null,
      submittedBy: null,
      paused: false,
      createdAt: 1,
      updatedAt: 2,
      lastScheduledAt: null,
      lastJobId: null,
      lastNote: null,
      packs: { t: { sha256: sha, size: 1 } },
    });
    assert.deepEqual(await store.useBlobs("periodic:nightly", [first], 2000), []);
    await store.write(batchOf({ periodic: [record(first)] }));
    store = await subject.reopen(store);
    assert.deepEqual((await store.loadPeriodic())[0].packs, { t: { sha256: first, size: 1 } });
    const purge = { retentionMs: BLOB_GRACE_MS, maxRows: 100_000, maxMs: 60_000, now: 10 * BLOB_GRACE_MS };
    await store.purgeExpired(purge);
    assert.notEqual(await store.getBlob(first), null, "its packs stay as long as the periodic job");
    // Registered again with other files: the old pack goes, the new one stays.
    await upload(second, 11 * BLOB_GRACE_MS);
    assert.deepEqual(await store.useBlobs("periodic:nightly", [second], 11 * BLOB_GRACE_MS), []);
    await store.write(batchOf({ periodic: [record(second)] }));
    await store.purgeExpired({ ...purge, now: 20 * BLOB_GRACE_MS });
    assert.equal(await store.getBlob(first), null, "the replaced pack");
    assert.notEqual(await store.getBlob(second), null);
    await store.write(batchOf({ deletedPeriodic: ["nightly"] }));
    await store.purgeExpired({ ...purge, now: 30 * BLOB_GRACE_MS });
    assert.equal(await store.getBlob(second), null, "deleted: its pack goes");
    await store.close();
  },
  "an attempt's artifacts are kept with their blobs' use by the job, once, and go with the task": async (subject) => {
    let store = await subject.open();
    const sha = "12".repeat(32);
    await store.putBlobChunk(sha, 0, new Uint8Array([1, 2]), 1000);
    assert.equal(await store.completeBlob(sha, { size: 2, chunks: 1, now: 1000 }), true);
    const task = taskOf("j1", 0);
    await store.write(batchOf({ newJobs: [{ ...jobRecord("j1", "succeeded"), finishedAt: 2000 }], tasks: [task] }));
    const record = {
      jobId: "j1",
      taskId: task.id,
      attempt: 1,
      artifacts: [
        { path: "dist/a.bin", sha256: sha, size: 2 },
        { path: "dist/empty", sha256: "e3".repeat(32), size: 0 },
        { path: "gone.bin", sha256: "34".repeat(32), size: 9 },
      ],
      now: 3000,
    };
    assert.deepEqual(await store.recordArtifacts(record), ["34".repeat(32)]);
    assert.deepEqual(await store.recordArtifacts(record), ["34".repeat(32)], "recorded again: the same");
    store = await subject.reopen(store);
    assert.deepEqual(await store.listArtifacts(task.id), [
      { taskId: task.id, attempt: 1, path: "dist/a.bin", sha256: sha, size: 2 },
      { taskId: task.id, attempt: 1, path: "dist/empty", sha256: "e3".repeat(32), size: 0 },
    ]);
    // The job's totals count its tasks' current attempts' (taskOf's attempt is 1), not another attempt's.
    assert.deepEqual(await store.jobArtifacts("j1"), { count: 2, bytes: 2 });
    await store.recordArtifacts({ ...record, attempt: 7, artifacts: [{ path: "old", sha256: sha, size: 2 }] });
    assert.deepEqual(await store.jobArtifacts("j1"), { count: 2, bytes: 2 });
    assert.deepEqual(await store.jobArtifacts("j"), { count: 0, bytes: 0 }, "a job whose id starts another's");
    const purge = { retentionMs: 10_000, maxRows: 100_000, maxMs: 60_000, now: 20_000 + BLOB_GRACE_MS };
    const result = await store.purgeExpired(purge);
    assert.equal(result.tasks, 1);
    assert.deepEqual(await store.listArtifacts(task.id), []);
    assert.deepEqual(await store.jobArtifacts("j1"), { count: 0, bytes: 0 });
    assert.equal(await store.getBlob(sha), null, "no job uses it any more");
    await store.close();
  },
  "values an agent sends unchecked are stored: a NUL in a reason, fractions and huge numbers": async (subject) => {
    const store = await subject.open();
    const task: TaskRecord = {
      ...taskOf("j", 0),
      state: "failed",
      reason: "bad\0reason",
      signal: "SIG\0",
      exitCode: 2 ** 40,
      startedAt: 1.5,
      finishedAt: 1e300,
      durationMs: 0.25,
    };
    const log = { ...logOf("j.0", 2 ** 40), at: -7.5 };
    await store.write(batchOf({ newJobs: [jobRecord("j", "failed")], tasks: [task], logs: [log] }));
    const stored = (await store.getTask("j.0"))!;
    // Not as sent, but stored: SQLite cuts text at a NUL (node:sqlite does), PostgreSQL replaces it
    // (its text holds none); SQLite keeps numbers as sent, PostgreSQL whole (truncated, as a Date
    // truncates a time: both show the same time) and within 2^53.
    assert.ok(["bad", "bad\uFFFDreason"].includes(stored.reason!), stored.reason!);
    assert.equal(stored.exitCode, 2 ** 40);
    assert.ok([1.5, 1].includes(stored.startedAt!));
    assert.equal(new Date(stored.startedAt!).toISOString(), new Date(1.5).toISOString());
    assert.ok(stored.finishedAt! >= Number.MAX_SAFE_INTEGER);
    const [read] = await store.readLogs("j.0", 1, 2 ** 40 - 1, 1);
    assert.equal(read.seq, 2 ** 40);
    assert.equal(read.data, log.data);
    await store.write(batchOf({ meta: new Map([["after", "yes"]]) }));
    assert.equal(await store.getMeta("after"), "yes", "the store still takes batches");
    await store.close();
  },
};

async function runCases(t: Deno.TestContext, subject: Subject): Promise<void> {
  for (const [name, body] of Object.entries({ ...CASES, ...RETENTION_CASES, ...CHANNEL_CASES })) {
    await t.step(name, () => body(subject));
  }
}

Deno.test("store contract: SQLite", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "fabric-store-contract-" });
  let files = 0;
  const paths = new Map<Store, string>();
  const open = (path: string) => {
    const store = SqliteStore.open(path);
    paths.set(store, path);
    return Promise.resolve(store);
  };
  try {
    await runCases(t, {
      open: () => open(join(dir, `${++files}.db`)),
      reopen: async (store) => {
        await store.close();
        return await open(paths.get(store)!);
      },
      tamper: (store, statement) => {
        const db = new DatabaseSync(paths.get(store)!);
        try {
          db.exec(statement);
        } finally {
          db.close();
        }
        return Promise.resolve();
      },
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test({
  name: "store contract: PostgreSQL",
  ignore: lacks("postgres"),
  fn: async (t) => {
    const server = await PostgresServer.start();
    const urls = new Map<Store, string>();
    const open = async (url: string) => {
      const store = await PostgresStore.open(url);
      urls.set(store, url);
      return store;
    };
    try {
      await runCases(t, {
        open: async () => open(await server.createDatabase()),
        reopen: async (store) => {
          await store.close();
          return await open(urls.get(store)!);
        },
        tamper: async (store, statement) => {
          await server.admin(new URL(urls.get(store)!).pathname.slice(1), (sql) => sql.unsafe(statement));
        },
      });
    } finally {
      await server.stop();
    }
  },
});
