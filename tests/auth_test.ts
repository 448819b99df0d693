/** Mistakes get clear errors and the right exit codes, and change nothing. */
import assert from "node:assert/strict";
import { join } from "node:path";
import { Cluster } from "../testing/cluster.ts";
import { fabric } from "../testing/process.ts";

Deno.test("a wrong token gets a clear error and exit 3", async () => {
  const cluster = await Cluster.start();
  try {
    const result = await cluster.cli(["status"], { env: { FABRIC_TOKEN: "fabric-admin-not-the-token" } });
    assert.equal(result.code, 3);
    assert.match(result.stderr, /token was not accepted/);
    assert.doesNotMatch(result.stderr, /at .*\.ts:\d+/, "no stack trace for a user's mistake");

    const join = await cluster.cli(["agents"], { env: { FABRIC_TOKEN: cluster.joinToken } });
    assert.equal(join.code, 6, "the join token is not a client token: refused (403), not unknown (401)");
    assert.match(join.stderr, /Listing agents needs the read role; the join token only registers agents/);
  } finally {
    await cluster.stop();
  }
});

Deno.test("an unreachable tracker is exit 3, an untrusted CA too", async () => {
  const cluster = await Cluster.start();
  try {
    const closed = await cluster.cli(["status"], { env: { FABRIC_TRACKER: "https://127.0.0.1:9" } });
    assert.equal(closed.code, 3);
    assert.match(closed.stderr, /Cannot reach the tracker at https:\/\/127\.0\.0\.1:9/);

    const otherCa = await cluster.writeFile(
      "other-ca.pem",
      await Deno.readTextFile(join(cluster.trackerDir, "tracker.pem")),
    );
    const untrusted = await cluster.cli(["status"], { env: { FABRIC_CA: otherCa } });
    assert.equal(untrusted.code, 3);
    assert.match(untrusted.stderr, /certificate/);
  } finally {
    await cluster.stop();
  }
});

Deno.test("an agent with a wrong CA hash refuses to connect and sends nothing", async () => {
  const cluster = await Cluster.start();
  try {
    const wrong = "sha256:" + "ab".repeat(32);
    // A join token names its CA: a --ca-hash that says otherwise is refused before anything is sent.
    const conflicting = cluster.startAgent({ name: "intruder", caHash: wrong });
    assert.equal((await conflicting.exited).code, 2, conflicting.describe());
    assert.match(conflicting.stderr, /The join token is for the CA sha256:[0-9a-f]{64}, and --ca-hash names another/);
    // A token that names no CA (as before they did): the pin is checked against what the tracker shows.
    const oldStyle = cluster.joinToken.replace(/^fabric-join-[0-9a-f]{64}-/, "fabric-join-");
    assert.notEqual(oldStyle, cluster.joinToken);
    const agent = cluster.startAgent({
      name: "intruder2",
      caHash: wrong,
      joinTokenBy: "env",
      env: { FABRIC_JOIN_TOKEN: oldStyle },
    });
    const status = await agent.exited;
    assert.equal(status.code, 3, agent.describe());
    assert.match(agent.stderr, /not the pinned sha256:abab/);
    assert.match(agent.stderr, /refusing to connect/);
    const agents = await cluster.json<unknown[]>(["agents"]);
    assert.deepEqual(agents, []);
    assert.doesNotMatch(cluster.tracker.stderr, /intruder/);
  } finally {
    await cluster.stop();
  }
});

Deno.test("an invalid job file gets its line and column and exit 2, and nothing is submitted", async () => {
  const cluster = await Cluster.start();
  try {
    const file = await cluster.writeFile(
      "broken.yaml",
      `name: broken
tasks:
  - name: one
    run: echo one
    count: three
`,
    );
    const result = await cluster.cli(["submit", file]);
    assert.equal(result.code, 2);
    assert.equal(
      result.stderr.trim(),
      `Cannot submit "${file}": line 5, column 12: "tasks[0].count" must be a number, got "three"`,
    );
    const yamlError = await cluster.cli(["submit", await cluster.writeFile("bad.yaml", "name: x\ntasks: [\n")]);
    assert.equal(yamlError.code, 2);
    assert.match(yamlError.stderr, /line \d+, column \d+: not valid YAML/);
    const missing = await cluster.cli(["submit", join(cluster.root, "nope.yaml")]);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /Cannot read the job file .*nope\.yaml": no such file/);
    const flags = await cluster.cli(["submit", file, "--wiat"]);
    assert.equal(flags.code, 2);
    assert.match(flags.stderr, /Unknown option '--wiat'/);
    assert.deepEqual(await cluster.json<unknown[]>(["status"]), []);
  } finally {
    await cluster.stop();
  }
});

Deno.test("validate checks a file without a tracker", async () => {
  const ok = await fabric(["validate", "jobs/hello.yaml"]);
  assert.equal(ok.code, 0, ok.stderr);
  assert.match(ok.stdout, /is valid: job "hello", 9 task\(s\)/);
});
