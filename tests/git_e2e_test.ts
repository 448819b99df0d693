/** Git tasks on a real agent against a real git server on loopback: mirrors reused, credentials kept out of logs. */
import assert from "node:assert/strict";
import { join } from "node:path";
import { Origin, startHttpServer } from "../testing/git_servers.ts";
import type { JobDetail } from "../src/protocol/mod.ts";
import { Cluster } from "../testing/cluster.ts";
import { lacks } from "../testing/machine.ts";

Deno.test({
  name: "git tasks check out a ref and run steps; the second task of a repository does not download it again",
  ignore: lacks("git", "bwrap"),
}, async () => {
  const root = await Deno.makeTempDir({ prefix: "fabric-git-e2e-" });
  const password = "s3cret-t0ken";
  const server = startHttpServer(root, { username: "ci", password });
  const cluster = await Cluster.start({ agents: [{ name: "a1", slots: 2 }] });
  try {
    const origin = await Origin.create(root, "app");
    const first = await origin.commit({ "VERSION": "1\n" }, "version 1");
    const url = server.url("app", `ci:${password}`);
    const job = (name: string) =>
      `name: ${name}
tasks:
  - name: build
    git: {repo: "${url}", ref: main}
    steps:
      - cat VERSION
      - git rev-parse HEAD
      - echo "commit $FABRIC_GIT_COMMIT" >&2
  - name: again
    needs: [build]
    git: {repo: "${url}", ref: main}
    run: cat VERSION
`;
    const result = await cluster.cli(["submit", await cluster.writeFile("git.yaml", job("git")), "--wait", "--json"]);
    assert.equal(result.code, 0, result.stderr + cluster.describe());
    const detail = JSON.parse(result.stdout) as JobDetail;
    const build = await cluster.cli(["logs", detail.tasks[0].id]);
    assert.equal(build.stdout, `1\n${first}\n`);
    assert.match(build.stderr, new RegExp(`commit ${first}`));
    assert.equal(server.stats.fetches, 1, "the second task used the agent's mirror");
    const again = await cluster.cli(["logs", detail.tasks[1].id]);
    assert.equal(again.stdout, "1\n");

    // A new commit is seen by the next task; the mirror is still the only copy on the agent.
    const second = await origin.commit({ "VERSION": "2\n" }, "version 2");
    const next = await cluster.cli(["submit", await cluster.writeFile("git2.yaml", job("git2")), "--wait", "--json"]);
    assert.equal(next.code, 0, next.stderr);
    const nextJob = JSON.parse(next.stdout) as JobDetail;
    assert.equal((await cluster.cli(["logs", nextJob.tasks[0].id])).stdout, `2\n${second}\n`);
    const mirrors = [...Deno.readDirSync(join(cluster.agentDir("a1"), "cache", "git"))].filter((e) =>
      e.name.endsWith(".git")
    );
    assert.equal(mirrors.length, 1);

    for (const task of [...detail.tasks, ...nextJob.tasks]) {
      const logs = await cluster.cli(["logs", task.id]);
      assert.doesNotMatch(logs.stdout + logs.stderr, new RegExp(password), `password in the log of ${task.id}`);
    }
    assert.doesNotMatch(cluster.describe(), new RegExp(password), "password in an agent's or the tracker's log");

    const wrong = await cluster.cli([
      "submit",
      await cluster.writeFile(
        "bad.yaml",
        `name: bad\ntasks:\n  - {name: t, git: {repo: "${url}", ref: nope}, run: "true"}\n`,
      ),
      "--wait",
      "--json",
    ]);
    assert.equal(wrong.code, 1);
    const failed = (JSON.parse(wrong.stdout) as JobDetail).tasks[0];
    assert.match(failed.reason!, /failed to start: ref "nope" not found/);
    assert.doesNotMatch(failed.reason!, new RegExp(password));
  } finally {
    await cluster.stop();
    await server.stop();
    await Deno.remove(root, { recursive: true });
  }
});
