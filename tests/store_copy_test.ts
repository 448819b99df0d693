/** `fabric store copy`: a tracker moved from SQLite to PostgreSQL serves the same jobs, logs and agents. */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { join } from "node:path";
import type { ArtifactRef, ChannelKeyView, JobDetail, JobSummary } from "../src/protocol/mod.ts";
import { Cluster } from "../testing/cluster.ts";
import { lacks } from "../testing/machine.ts";
import { PostgresServer } from "../testing/postgres.ts";
import { fabric } from "../testing/process.ts";

const JOB = `name: before
tasks:
  - name: build
    files: [input.txt]
    run: mkdir -p dist && cp input.txt dist/ && head -c 5000000 /dev/urandom > dist/big.bin
    artifacts: [dist/]
  - name: work
    count: 3
    run: |
      for i in 1 2 3; do echo "task $FABRIC_TASK_INDEX line $i"; done
      echo "to stderr" >&2
      echo '{"index": '$FABRIC_TASK_INDEX'}' > "$FABRIC_OUTPUT"
  - name: broken
    run: exit 3
`;

/** A periodic job that launches nothing while the test runs (New Year's midnight): copied as registered. */
const YEARLY = `name: yearly
schedule: "0 0 1 1 *"
timezone: Europe/Paris
tasks:
  - name: t
    run: "true"
`;

Deno.test({
  name: "a tracker's data copied into PostgreSQL: a tracker on it serves the same jobs and logs to the same agents",
  ignore: lacks("postgres", "bwrap"),
  fn: async () => {
    const server = await PostgresServer.start();
    const cluster = await Cluster.start({ agents: [{ name: "a1", slots: 2 }] });
    try {
      const secret = await cluster.cli(["secret", "set", "COPIED_TOKEN"], { stdin: "copied-token-value" });
      assert.equal(secret.code, 0, secret.stderr);
      await cluster.writeFile("input.txt", "shipped with the job\n");
      const jobId = await cluster.submit(JOB);
      assert.equal((await cluster.cli(["channel", "set", "deploys", "prod", "v41"])).code, 0);
      assert.equal((await cluster.cli(["channel", "set", "deploys", "prod", "v42"])).code, 0);
      const keyBefore = await cluster.json<ChannelKeyView>(["channel", "get", "deploys", "prod"]);
      const yearly = await cluster.cli(["submit", await cluster.writeFile("yearly.yaml", YEARLY)]);
      assert.equal(yearly.code, 0, yearly.stderr);
      const periodicBefore = await cluster.json(["periodic"]);
      const before = await cluster.waitForJob(jobId);
      assert.equal(before.state, "failed");
      const logsBefore = await Promise.all(before.tasks.map((t) => cluster.cli(["logs", t.id])));
      const listBefore = await cluster.json<JobSummary[]>(["status"]);
      const tasksBefore = await Promise.all(before.tasks.map((t) => cluster.json(["status", t.id])));
      const artifactsBefore = await cluster.json<ArtifactRef[]>(["artifacts", jobId]);
      assert.equal(artifactsBefore.length, 2);
      cluster.tracker.kill("SIGTERM");
      await cluster.tracker.exited;

      // The password in PGPASSWORD, not on the command line.
      const url = await server.createDatabase();
      const withoutPassword = url.replace(`:${server.password}@`, "@");
      const env = { PGPASSWORD: server.password, FABRIC_STORE: "" };
      const copied = await fabric(["store", "copy", "--from", cluster.trackerDir, "--to", withoutPassword], { env });
      assert.equal(copied.code, 0, copied.stderr);
      assert.match(
        copied.stdout,
        /^Copied 1 jobs, 5 tasks, 5 attempts, \d+ log chunks, 1 agents, 1 tokens, 1 secrets, 1 periodic jobs, \d+ audit entries, \d+ settings, 3 blobs \(5\.\d MB\), 2 artifacts and 1 channel keys \(not their history\) from /,
      );

      cluster.options.store = url;
      await cluster.startTracker();
      assert.match(cluster.tracker.stdout, /store postgres:\/\/fabric:\*\*\*@127\.0\.0\.1/);
      assert.deepEqual(await cluster.json<JobSummary[]>(["status"]), listBefore);
      assert.deepEqual(await cluster.json<JobDetail>(["status", jobId]), before);
      assert.deepEqual(await cluster.json(["periodic"]), periodicBefore);
      assert.deepEqual(await Promise.all(before.tasks.map((t) => cluster.json(["status", t.id]))), tasksBefore);
      const logsAfter = await Promise.all(before.tasks.map((t) => cluster.cli(["logs", t.id])));
      assert.deepEqual(logsAfter.map((l) => [l.stdout, l.stderr]), logsBefore.map((l) => [l.stdout, l.stderr]));

      // The artifacts came along, chunks and all: the same bytes, checked by hash.
      assert.deepEqual(await cluster.json<ArtifactRef[]>(["artifacts", jobId]), artifactsBefore);
      const out = join(cluster.root, "out");
      const got = await cluster.cli(["artifacts", "get", before.tasks[0].id, "dist/*", "-o", out]);
      assert.equal(got.code, 0, got.stderr);
      for (const artifact of artifactsBefore) {
        const bytes = await Deno.readFile(join(out, artifact.path));
        assert.equal(createHash("sha256").update(bytes).digest("hex"), artifact.sha256);
      }
      // The channel's key too, with its revision; new revisions go on after it (history was not copied).
      assert.deepEqual(await cluster.json<ChannelKeyView>(["channel", "get", "deploys", "prod"]), keyBefore);
      assert.equal((await cluster.cli(["channel", "set", "deploys", "prod", "v43"])).code, 0);
      const keyAfter = await cluster.json<ChannelKeyView>(["channel", "get", "deploys", "prod"]);
      assert.ok(keyAfter.revision > keyBefore.revision, `${keyAfter.revision} after ${keyBefore.revision}`);
      assert.equal(keyAfter.value, "v43");

      // The agent kept running through all this: it goes on with the CA it pinned and its credential.
      await cluster.waitForAgents(["a1"]);
      // The secret came along, sealed; the data directory's secrets.key opens it.
      const after = await cluster.submit(
        "name: after\ntasks:\n  - {name: t, secrets: [COPIED_TOKEN], run: 'echo on postgres $COPIED_TOKEN'}\n",
      );
      assert.equal((await cluster.waitForJob(after)).state, "succeeded", cluster.describe());
      const [task] = (await cluster.json<JobDetail>(["status", after])).tasks;
      assert.equal((await cluster.cli(["logs", task.id])).stdout, "on postgres ***\n");
      // The database holds it sealed: the value is in no row of any table.
      const database = new URL(url).pathname.slice(1);
      const rows = await server.admin(database, async (sql) => {
        const tables = await sql`SELECT tablename FROM pg_tables WHERE schemaname = 'public'`;
        const all = [];
        for (const { tablename } of tables) all.push(...await sql.unsafe(`SELECT * FROM ${tablename}`));
        return all;
      });
      assert.ok(rows.length > 10);
      const text = JSON.stringify(rows, (_, v) => v instanceof Uint8Array ? new TextDecoder().decode(v) : v);
      assert.ok(!text.includes("copied-token-value"), "a table holds the secret's value");

      const again = await fabric(["store", "copy", "--from", cluster.trackerDir, "--to", withoutPassword], { env });
      assert.equal(again.code, 1);
      assert.match(
        again.stderr,
        /^fabric store: The store postgres:\/\/fabric@127\.0\.0\.1:\d+\/test_1 is not empty \(meta: \d+, secrets: 4, agents: 1, jobs: 2, /,
      );
    } finally {
      await cluster.stop();
      await server.stop();
    }
  },
});

Deno.test("store copy: a password on the command line, a missing store or target are refused with a message", async () => {
  const dir = await Deno.makeTempDir({ prefix: "fabric-copy-" });
  try {
    const env = { FABRIC_STORE: "" };
    const password = await fabric(["store", "copy", "--from", dir, "--to", "postgres://u:secret@127.0.0.1:1/db"], {
      env,
    });
    assert.equal(password.code, 2);
    assert.match(password.stderr, /--to must not hold a password/);
    assert.doesNotMatch(password.stderr, /secret/);
    const missing = await fabric(["store", "copy", "--from", dir, "--to", "postgres://u@127.0.0.1:1/db"], { env });
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /^fabric store: No tracker store in ".*" \(no .*fabric\.db\)\n$/);
    const noTarget = await fabric(["store", "copy", "--from", dir], { env });
    assert.equal(noTarget.code, 2);
    assert.match(noTarget.stderr, /needs --to postgres:\/\//);
    const wrong = await fabric(["store", "copy", "--from", dir, "--to", "mysql://x"], { env });
    assert.equal(wrong.code, 2);
    assert.match(wrong.stderr, /--to takes a PostgreSQL URL/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
