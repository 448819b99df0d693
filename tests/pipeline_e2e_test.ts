/**
 * A pipeline through real agents over TLS: build on one agent leaves a file, test on another starts
 * with it (`needs: [{task: build, artifacts: true}]`) and leaves its own, package starts with both
 * (`artifactsFrom:`); `fabric artifacts get` returns the bytes the tasks hashed. And a summary run
 * `when: always` after a failing shard, which reads which shard failed.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { join } from "node:path";
import type { ArtifactRef, JobDetail, TaskDetail } from "../src/protocol/mod.ts";
import { Cluster } from "../testing/cluster.ts";
import { lacks } from "../testing/machine.ts";

const PIPELINE = `name: pipe
tasks:
  - name: build
    agents: [alpha]
    run: |
      mkdir -p dist
      seq 1 300000 > dist/app.txt
      echo "$FABRIC_AGENT" > dist/built-on.txt
    artifacts: [dist/]
  - name: test
    agents: [beta]
    needs: [{ task: build, artifacts: true }]
    run: |
      test "$(wc -l < dist/app.txt)" = 300000
      mkdir -p reports
      { cat dist/built-on.txt; echo "$FABRIC_AGENT"; } > reports/ran-on.txt
    artifacts: [reports/]
  - name: package
    needs: [test]
    artifactsFrom: [build, test]
    run: |
      sha256sum dist/app.txt reports/ran-on.txt > sums.txt
      cat dist/app.txt reports/ran-on.txt > package.txt
      sha256sum package.txt >> sums.txt
    artifacts: [package.txt, sums.txt]
`;

Deno.test({
  name:
    "build on one agent, test on another with the build's artifact, package with both; artifacts get returns the same bytes",
  ignore: lacks("bwrap"),
}, async () => {
  const cluster = await Cluster.start({ agents: [{ name: "alpha" }, { name: "beta" }] });
  try {
    const jobId = await cluster.submit(PIPELINE);
    const job = await cluster.waitForJob(jobId);
    assert.equal(job.state, "succeeded", JSON.stringify(job.tasks.map((t) => [t.name, t.state, t.reason])));
    const [build, test, pkg] = job.tasks;
    assert.deepEqual([build.agent, test.agent], ["alpha", "beta"]);
    // The test read the build's file on the other agent: its report names both.
    const out = join(cluster.root, "out");
    const got = await cluster.cli(["artifacts", "get", pkg.id, "*.txt", "-o", out]);
    assert.equal(got.code, 0, got.stderr);
    const sums = new Map(
      (await Deno.readTextFile(join(out, "sums.txt"))).trim().split("\n").map((line) => {
        const [hash, path] = line.split(/\s+/);
        return [path, hash] as const;
      }),
    );
    const fromTest = join(cluster.root, "from-test");
    const fromBuild = join(cluster.root, "from-build");
    assert.equal((await cluster.cli(["artifacts", "get", test.id, "reports/*", "-o", fromTest])).code, 0);
    assert.equal((await cluster.cli(["artifacts", "get", build.id, "dist/app.txt", "-o", fromBuild])).code, 0);
    assert.equal(await Deno.readTextFile(join(fromTest, "reports/ran-on.txt")), "alpha\nbeta\n");
    const sha = async (path: string) => createHash("sha256").update(await Deno.readFile(path)).digest("hex");
    // What package hashed on its agent is what the CLI downloads: the same bytes all the way.
    assert.equal(sums.get("dist/app.txt"), await sha(join(fromBuild, "dist/app.txt")));
    assert.equal(sums.get("reports/ran-on.txt"), await sha(join(fromTest, "reports/ran-on.txt")));
    assert.equal(sums.get("package.txt"), await sha(join(out, "package.txt")));
    const listed = await cluster.json<Array<ArtifactRef & { task: string }>>(["artifacts", pkg.id]);
    assert.equal(listed.find((a) => a.path === "package.txt")!.sha256, sums.get("package.txt"));
    const log = await cluster.cli(["logs", pkg.id]);
    assert.match(log.stderr + log.stdout, /artifacts of build: 2 file\(s\)/);
  } finally {
    await cluster.stop();
  }
});

Deno.test({
  name: "a summary `when: always` after a failing shard runs and sees which shard failed; the job fails",
  ignore: lacks("bwrap"),
}, async () => {
  const cluster = await Cluster.start({ agents: [{ name: "alpha", slots: 3 }] });
  try {
    const jobId = await cluster.submit(`name: shards
tasks:
  - name: shard
    count: 3
    run: |
      echo "{\\"shard\\": $FABRIC_TASK_INDEX}" > "$FABRIC_OUTPUT"
      echo "shard $FABRIC_TASK_INDEX" > "r$FABRIC_TASK_INDEX.txt"
      test "$FABRIC_TASK_INDEX" != 1
    artifacts: { paths: ["r*.txt"], when: always }
  - name: summary
    needs: [{ task: shard, when: always, artifacts: true }]
    run: |
      cat shard/1/r1.txt
      cat "$FABRIC_NEEDS_SHARD" > "$FABRIC_OUTPUT"
  - name: deploy
    needs: [shard]
    run: "true"
`);
    const job: JobDetail = await cluster.waitForJob(jobId);
    assert.equal(job.state, "failed");
    assert.deepEqual(job.tasks.map((t) => [t.name, t.state]), [
      ["shard[0]", "succeeded"],
      ["shard[1]", "failed"],
      ["shard[2]", "succeeded"],
      ["summary", "succeeded"],
      ["deploy", "skipped"],
    ]);
    const summary = await cluster.json<TaskDetail>(["status", job.tasks[3].id]);
    const seen = (summary.output as Array<{ name: string; state: string; output: { shard: number } }>)
      .map((s) => [s.name, s.state, s.output.shard]);
    assert.deepEqual(seen, [["shard[0]", "succeeded", 0], ["shard[1]", "failed", 1], ["shard[2]", "succeeded", 2]]);
    const log = await cluster.cli(["logs", summary.id]);
    assert.match(log.stdout, /shard 1/, "the failed shard's artifact is in the summary's directory");
  } finally {
    await cluster.stop();
  }
});
