/**
 * Git tasks as an attacker would write them, against real tracker and agent processes: a repository
 * on the agent's disk, another job's mirror (by its path, or by a commit it holds), a remote helper,
 * and a server that never answers (the checkout must obey the task's timeout and cancel).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import type { JobDetail } from "../../src/protocol/mod.ts";
import { Cluster } from "../../testing/cluster.ts";
import { everyArgv, Origin, startHangingServer, startHttpServer } from "../../testing/git_servers.ts";
import { waitFor } from "../../testing/process.ts";
import { lacks } from "../../testing/machine.ts";

const reasonOf = (job: JobDetail, name: string) => {
  const task = job.tasks.find((t) => t.name === name)!;
  return `${task.state}: ${task.reason}`;
};

Deno.test({
  name: "a git task reaches neither the agent's disk nor what another job's credentials fetched",
  ignore: lacks("git", "bwrap"),
}, async () => {
  const root = await Deno.makeTempDir({ prefix: "fabric-git-security-" });
  const password = "pr1vate-t0ken";
  const server = startHttpServer(root, { username: "ci", password });
  const cluster = await Cluster.start({
    agents: [{ name: "strict", slots: 4 }, { name: "local", slots: 4, extraArgs: ["--allow-local-git"] }],
  });
  try {
    const origin = await Origin.create(root, "private");
    const first = await origin.commit({ "SECRET": "first\n" }, "first");
    await origin.commit({ "SECRET": "second\n" }, "second");

    // A job with the credentials fills the agent's mirror.
    const fetched = await cluster.cli([
      "submit",
      await cluster.writeFile(
        "private.yaml",
        `name: private\nagents: [local]\ntasks:\n  - {name: t, git: {repo: "${
          server.url("private", `ci:${password}`)
        }"}, run: cat SECRET}\n`,
      ),
      "--wait",
    ]);
    assert.equal(fetched.code, 0, fetched.stderr + cluster.describe());
    const cache = join(cluster.agentDir("local"), "cache", "git");
    const mirror = [...Deno.readDirSync(cache)].find((entry) => entry.name.endsWith(".git"))!.name;

    // A remote helper runs a command on the agent: no agent may allow it, so validation refuses it.
    const pwned = join(root, "pwned");
    const helper = await cluster.cli([
      "submit",
      await cluster.writeFile(
        "helper.yaml",
        `name: helper\ntasks:\n  - {name: t, git: {repo: "ext::sh -c touch% ${pwned}"}, run: "true"}\n`,
      ),
    ]);
    assert.equal(helper.code, 2, helper.stdout + helper.stderr);
    assert.match(helper.stderr, /"tasks\[0\]\.git\.repo" names the git remote helper "ext"/);

    const attacks = await cluster.cli([
      "submit",
      await cluster.writeFile(
        "attacks.yaml",
        `name: attacks
tasks:
  - {name: local-path, agents: [strict], git: {repo: "${origin.bare}"}, run: cat SECRET}
  - {name: file-url, agents: [strict], git: {repo: "file://${origin.bare}"}, run: cat SECRET}
  - {name: mirror-path, agents: [local], git: {repo: "${join(cache, mirror)}", ref: "${first}"}, run: cat SECRET}
  - {name: by-commit, agents: [local], git: {repo: "${server.url("private")}", ref: "${first}"}, run: cat SECRET}
  - {name: by-ref, agents: [local], git: {repo: "${server.url("private")}", ref: main}, run: cat SECRET}
  - {name: allowed, agents: [local], git: {repo: "file://${origin.bare}", ref: "${first}"}, run: cat SECRET}
`,
      ),
      "--wait",
      "--json",
    ]);
    const job = JSON.parse(attacks.stdout) as JobDetail;
    const diskRefused = /does not allow local repositories \(it would need --allow-local-git\)/;
    assert.match(reasonOf(job, "local-path"), diskRefused);
    assert.match(reasonOf(job, "file-url"), diskRefused);
    assert.match(reasonOf(job, "mirror-path"), /reads from the agent's data directory, which no task may use/);
    assert.match(reasonOf(job, "by-commit"), /authentication failed/);
    assert.match(reasonOf(job, "by-ref"), /authentication failed/);
    assert.equal(
      reasonOf(job, "allowed"),
      "succeeded: null",
      "an agent that allows local repositories checks them out",
    );
    const allowed = job.tasks.find((t) => t.name === "allowed")!;
    assert.equal((await cluster.cli(["logs", allowed.id])).stdout, "first\n");
    for (const task of job.tasks.filter((t) => t.name !== "allowed")) {
      assert.doesNotMatch((await cluster.cli(["logs", task.id])).stdout, /first|second/, task.name);
    }
    await assert.rejects(Deno.stat(pwned), Deno.errors.NotFound);
  } finally {
    await cluster.stop();
    await server.stop();
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test({
  name: "a checkout of a server that never answers ends at the task's timeout, or at cancel, with no git left",
  ignore: lacks("git", "bwrap"),
}, async () => {
  const server = startHangingServer();
  const cluster = await Cluster.start({ agents: [{ name: "a1", slots: 2 }] });
  try {
    const timedOut = await cluster.submit(
      `name: slow\ntasks:\n  - {name: t, timeout: 2s, git: {repo: "${server.url}"}, run: "true"}\n`,
      "slow.yaml",
    );
    // Generous for a loaded machine: without the fix the checkout waits for its own 15 minutes.
    const slow = await cluster.waitForJob(timedOut, { timeoutMs: 60_000 });
    assert.deepEqual([slow.tasks[0].state, slow.tasks[0].reason], ["failed", "timed_out"]);
    assert.ok(slow.tasks[0].durationMs! < 30_000, `${slow.tasks[0].durationMs} ms`);
    assert.equal(server.accepted, 1);

    const hanging = await cluster.submit(
      `name: hangs\ntasks:\n  - {name: t, git: {repo: "${server.url}"}, run: "true"}\n`,
      "hangs.yaml",
    );
    await waitFor("the second checkout to reach the server", () => server.accepted >= 2, { timeoutMs: 60_000 })
      .catch(async (error) => {
        const job = await cluster.json(["status", hanging]);
        throw new Error(`${error.message}: ${JSON.stringify(job)}\n${cluster.describe()}`);
      });
    const cancel = await cluster.cli(["cancel", hanging], { timeoutMs: 60_000 });
    assert.equal(cancel.code, 0, cancel.stderr + cluster.describe());
    const cancelled = await cluster.waitForJob(hanging, { timeoutMs: 60_000 });
    assert.deepEqual([cancelled.state, cancelled.tasks[0].state], ["cancelled", "cancelled"]);

    await waitFor("git to close its connections", () => server.open === 0, { timeoutMs: 30_000 });
    const agentDir = cluster.agentDir("a1");
    const gits = (await everyArgv()).filter((argv) => argv.startsWith("git ") && argv.includes(agentDir));
    assert.deepEqual(gits, [], "no git is left running");
  } finally {
    await cluster.stop();
    await server.stop();
  }
});
