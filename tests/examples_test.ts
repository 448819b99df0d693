/** Every example in jobs/ runs on real agents and ends as its comments say. */
import assert from "node:assert/strict";
import { join } from "node:path";
import { Origin, startDaemon } from "../testing/git_servers.ts";
import type { JobDetail, TaskDetail } from "../src/protocol/mod.ts";
import { Cluster } from "../testing/cluster.ts";
import { REPO, waitFor } from "../testing/process.ts";
import { lacks } from "../testing/machine.ts";

const jobs = (name: string) => join(REPO, "jobs", name);

Deno.test({
  name: "every example job in jobs/ runs as documented",
  ignore: lacks("bwrap", "git", "deno", "cgroup"),
}, async (t) => {
  const cluster = await Cluster.start({
    agents: [
      {
        name: "build-1",
        slots: 4,
        labels: "zone=eu,disk=ssd",
        extraArgs: ["--cpu", "4", "--memory", "4G", "--addons", join(REPO, "examples", "addons")],
      },
      { name: "build-2", slots: 4, labels: "zone=us,disk=nvme", extraArgs: ["--cpu", "4", "--memory", "4G"] },
      { name: "build-3", slots: 2, labels: "zone=eu" },
    ],
  });
  const submit = async (file: string) => {
    const result = await cluster.cli(["submit", file, "--wait", "--json"], { timeoutMs: 90_000 });
    assert.ok(result.stdout, `no output from submit ${file}: ${result.stderr}`);
    return { code: result.code, job: JSON.parse(result.stdout) as JobDetail };
  };
  const log = async (taskId: string) => (await cluster.cli(["logs", taskId])).stdout;
  try {
    await t.step("hello", async () => {
      const { code, job } = await submit(jobs("hello.yaml"));
      assert.equal(code, 0);
      assert.equal(job.counts.succeeded, 9);
    });
    await t.step("shells", async () => {
      const { code, job } = await submit(jobs("shells.yaml"));
      assert.equal(code, 0);
      assert.match(await log(job.tasks[0].id), /^bash \d with pipefail\n$/);
      assert.equal(await log(job.tasks[1].id), "plain sh\n");
      assert.equal(await log(job.tasks[2].id), `python in task ${job.tasks[2].id}\n`);
      assert.equal(await log(job.tasks[3].id), "perl says hi\n");
    });
    await t.step("failing", async () => {
      const { code, job } = await submit(jobs("failing.yaml"));
      assert.equal(code, 1);
      assert.deepEqual(job.tasks.map((x) => x.state), ["succeeded", "failed"]);
    });
    await t.step("matrix", async () => {
      const { code, job } = await submit(jobs("matrix.yaml"));
      assert.equal(code, 0);
      assert.equal(job.tasks.length, 8);
      assert.deepEqual(job.tasks[5].matrix, { os: "alpine", python: "3.11" });
      assert.equal(job.tasks[5].name, "test[os=alpine,python=3.11][1]");
      assert.equal(await log(job.tasks[5].id), "testing on alpine with python 3.11 (copy 5 of 8)\n");
    });
    await t.step("pipeline", async () => {
      const { code, job } = await submit(jobs("pipeline.yaml"));
      assert.equal(code, 0);
      const publish = await cluster.json<TaskDetail>(["status", job.tasks[3].id]);
      assert.deepEqual(publish.output, { published: "app-1.2.3.tar.gz" });
      assert.deepEqual(publish.needs, ["build", "test"]);
      assert.equal(await log(publish.id), "publishing app-1.2.3.tar.gz after 2 passing shards\n");
      assert.ok(Date.parse(job.tasks[1].startedAt!) >= Date.parse(job.tasks[0].finishedAt!), "test ran after build");
    });
    await t.step("retry", async () => {
      const { code, job } = await submit(jobs("retry.yaml"));
      assert.equal(code, 0);
      assert.equal(job.tasks[0].attempt, 3);
      const task = await cluster.json<TaskDetail>(["status", job.tasks[0].id]);
      assert.deepEqual(task.attempts.map((a) => [a.attempt, a.state, a.exitCode]), [
        [1, "failed", 1],
        [2, "failed", 1],
        [3, "succeeded", 0],
      ]);
      const gaps = [1, 2].map((i) =>
        Date.parse(task.attempts[i].assignedAt) - Date.parse(task.attempts[i - 1].finishedAt!)
      );
      assert.ok(gaps[0] >= 200 && gaps[1] >= 400, `backoff 200ms then 400ms, got ${gaps}`);
    });
    await t.step("script", async () => {
      const { code, job } = await submit(jobs("script.yaml"));
      assert.equal(code, 0);
      assert.match(await log(job.tasks[0].id), /^report: wrote and read 3 lines in \/.*\n$/);
      assert.deepEqual((await cluster.json<TaskDetail>(["status", job.tasks[0].id])).output, { lines: 3 });
      assert.match(await log(job.tasks[1].id), /no network, as expected: Requires net access to "127\.0\.0\.1:8080"/);
    });
    await t.step("sandbox", async () => {
      const { code, job } = await submit(jobs("sandbox.yaml"));
      assert.equal(code, 0);
      assert.match(
        await log(job.tasks[0].id),
        /I can read \d+ licenses\nand write my own directory\nbut not the system\nand there is no network\n/,
      );
      assert.match(await log(job.tasks[1].id), /this one has the host network/);
    });
    await t.step("limits", async () => {
      const { code, job } = await submit(jobs("limits.yaml"));
      assert.equal(code, 1);
      assert.deepEqual(job.tasks.map((x) => [x.name, x.state, x.reason]), [
        ["slow", "failed", "timed_out"],
        ["hungry", "failed", "oom"],
        ["chatty", "succeeded", null],
        ["filler", "failed", "disk"],
        ["forky", "succeeded", null],
      ]);
      // 16 with python itself (and, sandboxed, bwrap and its init).
      const forky = await cluster.cli(["logs", job.tasks[4].id]);
      assert.match(forky.stdout, /^1[0-5] children, then: Resource temporarily unavailable\n$/);
      assert.equal(job.tasks[2].outputTruncated, true);
      assert.match(
        (await cluster.cli(["logs", job.tasks[2].id])).stderr,
        /\[fabric: output truncated after 1024 bytes\]\n$/,
      );
    });
    await t.step("placement", async () => {
      const { code, job } = await submit(jobs("placement.yaml"));
      assert.equal(code, 0);
      const where = (name: string) => job.tasks.filter((x) => x.template === name).map((x) => x.agent);
      assert.ok(["build-1", "build-3"].includes(where("in-eu")[0]!));
      assert.ok(["build-1", "build-2"].includes(where("fast-disk")[0]!));
      assert.ok(where("anywhere-but").every((a) => a !== "build-3"));
    });
    await t.step("all-agents", async () => {
      const { code, job } = await submit(jobs("all-agents.yaml"));
      assert.equal(code, 0);
      assert.deepEqual(job.tasks.map((x) => [x.name, x.agent]), [
        ["facts@build-1", "build-1"],
        ["facts@build-2", "build-2"],
        ["facts@build-3", "build-3"],
      ]);
    });
    await t.step("git", async () => {
      const root = await Deno.makeTempDir({ prefix: "fabric-git-" });
      const daemon = await startDaemon(root);
      try {
        const origin = await Origin.create(root, "std");
        const sha = await origin.commit({ "README.md": "# std\n", "mod.ts": "export {};\n" }, "first");
        const text = (await Deno.readTextFile(jobs("git.yaml"))).replace(
          "https://github.com/denoland/std.git",
          daemon.url("std"),
        );
        const { code, job } = await submit(await cluster.writeFile("git.yaml", text));
        assert.equal(code, 0, JSON.stringify(job.tasks) + (await cluster.cli(["logs", job.tasks[0].id])).stderr);
        const out = await cluster.cli(["logs", job.tasks[0].id]);
        assert.equal(out.stdout, `${sha} first\nREADME.md\nmod.ts\n`);
        assert.match(out.stderr, /\+ \[step 1\/2\] git log -1/);
      } finally {
        await daemon.stop();
        await Deno.remove(root, { recursive: true });
      }
    });
    await t.step("secrets", async () => {
      const set = await cluster.cli(["secret", "set", "DEMO_TOKEN"], { stdin: "demo-token-value" });
      assert.equal(set.code, 0, set.stderr);
      const { code, job } = await submit(jobs("secrets.yaml"));
      assert.equal(code, 0);
      assert.equal(await log(job.tasks[0].id), "the token is ***\n");
      assert.equal(await log(job.tasks[1].id), "API_TOKEN has 16 characters\n");
    });
    await t.step("addons", async () => {
      const { code, job } = await submit(jobs("addons.yaml"));
      assert.equal(code, 0);
      assert.equal(job.tasks[1].agent, "build-1", "the one agent with the add-on");
      assert.equal(
        await log(job.tasks[1].id),
        '# Build summary\n\n## measure\n\n| field | value |\n| --- | --- |\n| files | 42 |\n| coverage | "87%" |\n\n',
      );
      const artifacts = await cluster.json<Array<{ path: string }>>(["artifacts", job.tasks[1].id]);
      assert.deepEqual(artifacts.map((a) => a.path), ["report.md"]);
    });
    await t.step("sleepy, cancelled", async () => {
      const submitted = await cluster.cli(["submit", jobs("sleepy.yaml")]);
      const jobId = submitted.stdout.trim();
      await waitFor("the ticks", async () => (await log(`${jobId}.0`)).includes("tick 1"));
      assert.equal((await cluster.cli(["cancel", jobId])).code, 0);
      const job = await cluster.json<JobDetail>(["status", jobId]);
      assert.deepEqual(job.tasks.map((x) => x.state), ["cancelled", "cancelled"]);
    });
  } finally {
    await cluster.stop();
  }
});
