/**
 * Signed jobs against real tracker and agent processes: an agent started with --verify-key runs what
 * its trusted key signed, and nothing else, whoever asks. The tracker is the attacker here twice: its
 * database is edited while a signed job waits in it, and a "tracker" holding the real one's CA key sits
 * between it and the agent, hides the agent's keys from it and rewrites what the agent is told to run.
 * A command the agent must not run would leave a file; each test checks that the file is not there.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import type { Assignment, JobDetail, TaskView } from "../../src/protocol/mod.ts";
import { Cluster } from "../../testing/cluster.ts";
import { waitFor } from "../../testing/process.ts";
import { startRogueTracker } from "../../testing/rogue_tracker.ts";

const ENDED = ["succeeded", "failed", "cancelled"];

/** A world-writable folder the jobs may write to (whatever user the agent runs tasks as). */
async function marksDir(cluster: Cluster): Promise<string> {
  const dir = join(cluster.root, "marks");
  await Deno.mkdir(dir);
  await Deno.chmod(dir, 0o777);
  return dir;
}

function exists(path: string): boolean {
  try {
    Deno.lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

/** `fabric key generate` into the cluster's folder; returns the private key file (the public one is beside it). */
async function generateKey(cluster: Cluster, name: string): Promise<string> {
  const file = join(cluster.root, name);
  const result = await cluster.cli(["key", "generate", "--out", file]);
  assert.equal(result.code, 0, result.stderr);
  return file;
}

async function submit(cluster: Cluster, name: string, yaml: string, key?: string): Promise<string> {
  const file = await cluster.writeFile(`${name}.yaml`, yaml);
  const result = await cluster.cli(["submit", file, ...(key ? ["--sign", key] : [])]);
  assert.equal(result.code, 0, result.stderr);
  return result.stdout.trim();
}

function onlyTask(job: JobDetail): TaskView {
  assert.equal(job.tasks.length, 1);
  return job.tasks[0];
}

/** A job of one task that runs the `payload.sh` shipped beside its file (files:). */
function packedJob(name: string, marks: string): string {
  return `name: ${name}\npermissions: {write: [${marks}]}\nfiles: [payload.sh]\ntasks:\n  - {name: t, run: "sh payload.sh"}\n`;
}

/** A job of one task that writes `marks/file`. */
function touchJob(name: string, marks: string, file: string): string {
  return `name: ${name}\npermissions: {write: [${marks}]}\ntasks:\n  - {name: t, run: "touch ${marks}/${file}"}\n`;
}

Deno.test("a --verify-key agent runs a job signed by its key; an unsigned one or another key's waits, saying why", async () => {
  const cluster = await Cluster.start();
  try {
    const marks = await marksDir(cluster);
    const key = await generateKey(cluster, "release.key");
    const other = await generateKey(cluster, "other.key");
    assert.equal(Deno.statSync(key).mode! & 0o777, 0o600);
    const again = await cluster.cli(["key", "generate", "--out", key]);
    assert.equal(again.code, 2);
    assert.match(again.stderr, /already exists; it is not overwritten/);
    const wrongKey = await cluster.cli([
      "submit",
      await cluster.writeFile("x.yaml", touchJob("x", marks, "x")),
      "--sign",
      `${key}.pub`,
    ]);
    assert.equal(wrongKey.code, 2);
    assert.match(wrongKey.stderr, /The signing key ".*release\.key\.pub" holds no private key/);

    cluster.startAgent({ name: "strict", extraArgs: ["--verify-key", `${key}.pub`] });
    await cluster.waitForAgents(["strict"]);
    const agents = await cluster.json<Array<{ name: string; capabilities: { verifyKeys?: string[] } }>>(["agents"]);
    assert.equal(agents[0].capabilities.verifyKeys?.length, 1);

    const signed = await submit(cluster, "signed", touchJob("signed", marks, "signed"), key);
    const unsigned = await submit(cluster, "unsigned", touchJob("unsigned", marks, "unsigned"));
    const foreign = await submit(cluster, "foreign", touchJob("foreign", marks, "foreign"), other);
    const done = await cluster.waitForJob(signed);
    assert.equal(done.state, "succeeded", cluster.describe());
    assert.ok(exists(join(marks, "signed")));
    assert.equal(done.signedBy?.length, 44);
    // Its files: are signed with it (by their pack's hash), and run as shipped.
    await cluster.writeFile("payload.sh", `touch ${marks}/packed\n`);
    const packed = await submit(cluster, "packed", packedJob("packed", marks), key);
    assert.equal((await cluster.waitForJob(packed)).state, "succeeded", cluster.describe());
    assert.ok(exists(join(marks, "packed")));
    // A periodic job's runs are its signed file with the pack made when it was registered.
    await cluster.writeFile("payload.sh", `touch ${marks}/periodic\n`);
    const periodic = packedJob("periodic", marks).replace("\n", `\nschedule: "*/2 * * * * *"\n`);
    await submit(cluster, "periodic", periodic, key);
    await waitFor("a run of the signed periodic job", async () => {
      const runs = (await cluster.json<Array<{ periodic?: { name: string }; state: string }>>(["status"]))
        .filter((job) => job.periodic?.name === "periodic");
      return runs.some((run) => run.state === "succeeded");
    }, { timeoutMs: 30_000, intervalMs: 300 });
    assert.ok(exists(join(marks, "periodic")));
    assert.equal((await cluster.cli(["periodic", "delete", "periodic"])).code, 0);

    const waiting = (jobId: string) =>
      cluster.waitForJob(jobId, { until: (job) => onlyTask(job).reason !== null && onlyTask(job).state === "queued" });
    assert.equal(
      onlyTask(await waiting(unsigned)).reason,
      "its job is not signed, and every agent that could take it runs only signed jobs (--verify-key)",
    );
    assert.match(
      onlyTask(await waiting(foreign)).reason!,
      /^no agent that could take it trusts the key its job is signed with \(ed25519:.{16}\)$/,
    );
    assert.ok(!exists(join(marks, "unsigned")) && !exists(join(marks, "foreign")));
  } finally {
    await cluster.stop();
  }
});

Deno.test("a tracker whose stored job was altered cannot make a --verify-key agent run the altered command; an unaltered one runs after the restart", async () => {
  const cluster = await Cluster.start();
  try {
    const marks = await marksDir(cluster);
    const key = await generateKey(cluster, "release.key");
    // Queued with no agent yet: then the tracker stops and its database is edited.
    const runAltered = await submit(cluster, "run-altered", touchJob("run-altered", marks, "intended-1"), key);
    const bothAltered = await submit(cluster, "both-altered", touchJob("both-altered", marks, "intended-2"), key);
    const untouched = await submit(cluster, "untouched", touchJob("untouched", marks, "untouched"), key);
    // A signed job with files, and another job's pack (its blob in the tracker) to swap in for them.
    await cluster.writeFile("payload.sh", `touch ${marks}/intended-3\n`);
    const packSwapped = await submit(cluster, "pack-swapped", packedJob("pack-swapped", marks), key);
    await Deno.mkdir(join(cluster.root, "evil"));
    await cluster.writeFile("evil/payload.sh", `touch ${marks}/pwned-pack\n`);
    const evil = await submit(cluster, "evil/evil", packedJob("evil", marks));
    await cluster.tracker.stop();
    const db = new DatabaseSync(join(cluster.trackerDir, "fabric.db"));
    try {
      const select = db.prepare("SELECT spec, signed FROM jobs WHERE id = ?");
      const update = db.prepare("UPDATE jobs SET spec = ?, signed = ? WHERE id = ?");
      for (const [jobId, alsoPayload] of [[runAltered, false], [bothAltered, true]] as const) {
        const row = select.get(jobId) as { spec: string; signed: string };
        const pwned = `touch ${marks}/pwned-${jobId}`;
        const spec = JSON.parse(row.spec);
        spec.tasks[0].run = pwned;
        const signed = JSON.parse(row.signed);
        // The signed payload too, so that the task matches it: then the signature no longer does.
        if (alsoPayload) {
          signed.payload = signed.payload.replace(/"run":"[^"]*"/, JSON.stringify({ run: pwned }).slice(1, -1));
        }
        update.run(JSON.stringify(spec), JSON.stringify(signed), jobId);
      }
      const packsOf = db.prepare("SELECT packs FROM jobs WHERE id = ?");
      const evilPacks = (packsOf.get(evil) as { packs: string }).packs;
      assert.notEqual(evilPacks, "{}");
      db.prepare("UPDATE jobs SET packs = ? WHERE id = ?").run(evilPacks, packSwapped);
    } finally {
      db.close();
    }
    await cluster.startTracker();
    const agent = cluster.startAgent({ name: "strict", extraArgs: ["--verify-key", `${key}.pub`] });

    // A signed job the tracker read back from its store runs as signed.
    assert.equal((await cluster.waitForJob(untouched)).state, "succeeded", cluster.describe());
    assert.ok(exists(join(marks, "untouched")));
    const first = onlyTask(await cluster.waitForJob(runAltered));
    assert.equal(first.state, "failed", cluster.describe());
    assert.equal(first.reason, "failed to start: task differs from the signed job: field run");
    const second = onlyTask(await cluster.waitForJob(bothAltered));
    assert.equal(second.reason, "failed to start: the job's signature does not verify: the signed job was altered");
    await agent.waitForOutput(/refused task "[^"]+" attempt 1: task differs from the signed job: field run/);
    const third = onlyTask(await cluster.waitForJob(packSwapped));
    assert.equal(third.reason, "failed to start: task differs from the signed job: field pack", cluster.describe());
    for (const name of [`pwned-${runAltered}`, `pwned-${bothAltered}`, "intended-1", "intended-2", "pwned-pack"]) {
      assert.ok(!exists(join(marks, name)), `${name} was created`);
    }
  } finally {
    await cluster.stop();
  }
});

Deno.test("a compromised tracker that hides the agent's keys and rewrites tasks gets none of them run", async () => {
  const cluster = await Cluster.start();
  const rogue = await startRogueTracker({
    trackerDir: cluster.trackerDir,
    trackerUrl: cluster.url,
    // The real tracker never learns that the agent runs only signed jobs, so it sends it anything.
    request: (path, body) => {
      const b = body as { capabilities?: { verifyKeys?: string[] } };
      if (path === "/v1/agents/register" || path === "/v1/agent/hello") delete b.capabilities?.verifyKeys;
      return b;
    },
    assignment: (a: Assignment) =>
      a.jobName === "rewritten" && a.kind === "shell" ? { ...a, run: a.run.replace("intended", "pwned") } : a,
  });
  try {
    const marks = await marksDir(cluster);
    const key = await generateKey(cluster, "release.key");
    const other = await generateKey(cluster, "other.key");
    cluster.startAgent({ name: "strict", join: rogue.address, extraArgs: ["--verify-key", `${key}.pub`] });
    await cluster.waitForAgents(["strict"]);
    const jobs = {
      honest: await submit(cluster, "honest", touchJob("honest", marks, "honest"), key),
      unsigned: await submit(cluster, "unsigned", touchJob("unsigned", marks, "pwned-unsigned")),
      foreign: await submit(cluster, "foreign", touchJob("foreign", marks, "pwned-foreign"), other),
      rewritten: await submit(cluster, "rewritten", touchJob("rewritten", marks, "intended"), key),
    };
    const ended = async (jobId: string) =>
      onlyTask(await cluster.waitForJob(jobId, { until: (job) => ENDED.includes(job.state) }));
    // Through the same rogue tracker, a task that is what was signed runs.
    assert.equal((await ended(jobs.honest)).state, "succeeded", cluster.describe());
    assert.ok(exists(join(marks, "honest")));
    assert.equal(
      (await ended(jobs.unsigned)).reason,
      "failed to start: the job is not signed by a key this agent trusts (it is not signed)",
    );
    assert.match(
      (await ended(jobs.foreign)).reason!,
      /^failed to start: the job is not signed by a key this agent trusts \(it is signed by ed25519:.{16}\)$/,
    );
    assert.equal((await ended(jobs.rewritten)).reason, "failed to start: task differs from the signed job: field run");
    for (const name of ["pwned-unsigned", "pwned-foreign", "pwned", "intended"]) {
      assert.ok(!exists(join(marks, name)), `${name} was created`);
    }
  } finally {
    await cluster.stop();
    await rogue.close();
  }
});
