/**
 * `artifacts:` end to end: files a task leaves, uploaded by a real agent as it ends, listed and
 * downloaded with the CLI byte for byte; links and FIFOs the task made are never followed.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { join } from "node:path";
import type { ArtifactRef, JobDetail } from "../src/protocol/mod.ts";
import { Cluster } from "../testing/cluster.ts";
import { lacks } from "../testing/machine.ts";

const SEQ = Array.from({ length: 50_000 }, (_, i) => i + 1).join("\n") + "\n";

Deno.test({
  name:
    "a task's artifacts are kept as it ends, listed, and downloaded byte for byte; links and FIFOs it made are not; a failed task keeps its output",
  ignore: lacks("bwrap"),
}, async () => {
  const cluster = await Cluster.start({ agents: [{ name: "builder" }] });
  try {
    const yaml = `name: art
tasks:
  - name: build
    run: |
      mkdir -p dist coverage
      seq 1 50000 > dist/app.txt
      echo '<coverage/>' > coverage/report.xml
      : > dist/empty.txt
      ln -s /etc/passwd dist/passwd
      mkfifo dist/pipe
      echo not-kept > other.txt
    artifacts: [dist/, "coverage/*.xml"]
  - name: broken
    run: |
      mkdir -p logs && echo why > logs/why.txt
      echo '{"failed": ["shard-2"]}' > "$FABRIC_OUTPUT"
      exit 3
    artifacts: { paths: ["logs/*"], when: on_failure }
  - name: broken-quiet
    run: mkdir -p logs && echo why > logs/why.txt && exit 3
    artifacts: ["logs/*"]
`;
    const file = await cluster.writeFile("job.yaml", yaml);
    const result = await cluster.cli(["submit", file, "--wait", "--json"], { timeoutMs: 60_000 });
    assert.equal(result.code, 1, result.stderr);
    const job = JSON.parse(result.stdout) as JobDetail;
    const [build, broken, quiet] = job.tasks.map((t) => t.id);

    const listed = await cluster.json<Array<ArtifactRef & { task: string }>>(["artifacts", build]);
    const sha = (text: string) => createHash("sha256").update(text).digest("hex");
    assert.deepEqual(listed, [
      { task: build, path: "coverage/report.xml", sha256: sha("<coverage/>\n"), size: 12 },
      { task: build, path: "dist/app.txt", sha256: sha(SEQ), size: SEQ.length },
      { task: build, path: "dist/empty.txt", sha256: sha(""), size: 0 },
    ]);
    // A failed task keeps what `when: on_failure` asks for, and nothing by default.
    const all = await cluster.json<Array<ArtifactRef & { task: string }>>(["artifacts", job.id]);
    assert.deepEqual(all.filter((a) => a.task === broken).map((a) => a.path), ["logs/why.txt"]);
    assert.deepEqual(all.filter((a) => a.task === quiet), []);
    // ... and the JSON it left in $FABRIC_OUTPUT.
    const failed = await cluster.json<{ state: string; output: unknown }>(["status", broken]);
    assert.deepEqual([failed.state, failed.output], ["failed", { failed: ["shard-2"] }]);

    const out = join(cluster.root, "out");
    const got = await cluster.cli(["artifacts", "get", build, "dist/*", "-o", out]);
    assert.equal(got.code, 0, got.stderr);
    assert.equal(await Deno.readTextFile(join(out, "dist/app.txt")), SEQ);
    assert.equal(await Deno.readTextFile(join(out, "dist/empty.txt")), "");
    await assert.rejects(() => Deno.lstat(join(out, "dist/passwd")));
    await assert.rejects(() => Deno.lstat(join(out, "coverage")));
    // What is left out is said in the task's log, links too.
    const log = await cluster.cli(["logs", build]);
    assert.match(log.stdout + log.stderr, /artifact "dist\/passwd" is not kept: skipped link/);
    assert.match(log.stdout + log.stderr, /artifact "dist\/pipe" is not kept/);
    const none = await cluster.cli(["artifacts", "get", build, "nothing/*", "-o", out]);
    assert.equal(none.code, 2);
    assert.match(none.stderr, /has no artifact "nothing\/\*"/);
  } finally {
    await cluster.stop();
  }
});
