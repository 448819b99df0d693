/** The client and daemons as a user runs them: live logs, a restarted agent, `fabric dev`. */
import assert from "node:assert/strict";
import { join } from "node:path";
import type { AgentView, JobDetail } from "../src/protocol/mod.ts";
import { Cluster } from "../testing/cluster.ts";
import { Daemon, fabric, waitFor } from "../testing/process.ts";
import { lacks } from "../testing/machine.ts";

Deno.test({
  name: "logs --follow streams output while the task runs and ends when it does",
  ignore: lacks("bwrap"),
}, async () => {
  const cluster = await Cluster.start({ agents: [{ name: "a1" }] });
  try {
    const gate = join(cluster.root, "gate");
    const jobId = await cluster.submit(`name: chatty
tasks:
  - name: talk
    run: |
      echo first
      echo warning >&2
      for i in $(seq 1 200); do [ -e ${gate} ] && break; sleep 0.05; done
      echo second
`);
    const taskId = `${jobId}.0`;
    const follower = new Daemon("logs -f", ["logs", taskId, "--follow"], cluster.clientEnv);
    await follower.waitForOutput(/first\n/);
    assert.equal(follower.stdout, "first\n", "the first line arrives while the task still runs");
    const job = await cluster.json<JobDetail>(["status", jobId]);
    assert.equal(job.tasks[0].state, "running");
    await Deno.writeTextFile(gate, "");
    const status = await follower.exited;
    assert.equal(status.code, 0);
    assert.equal(follower.stdout, "first\nsecond\n");
    assert.equal(follower.stderr, "warning\n");
  } finally {
    await cluster.stop();
  }
});

Deno.test({
  name: "a restarted agent reuses its credential: no token or flags needed",
  ignore: lacks("bwrap"),
}, async () => {
  const cluster = await Cluster.start({ agents: [{ name: "a1" }] });
  try {
    const before = await cluster.json<AgentView[]>(["agents"]);
    await cluster.agents.get("a1")!.stop("SIGTERM");
    const identity = JSON.parse(await Deno.readTextFile(join(cluster.agentDir("a1"), "agent.json")));
    assert.equal(identity.name, "a1");
    assert.equal((await Deno.stat(join(cluster.agentDir("a1"), "agent.json"))).mode! & 0o777, 0o600);

    const again = new Daemon("agent a1 again", ["agent", "--data-dir", cluster.agentDir("a1")]);
    cluster.agents.set("a1", again);
    await again.waitForOutput(/agent a1 joined/);
    await cluster.waitForAgents(["a1"]);
    const after = await cluster.json<AgentView[]>(["agents"]);
    assert.deepEqual(after.map((a) => a.id), before.map((a) => a.id));
    const file = await cluster.writeFile("one.yaml", "name: one\ntasks:\n  - {name: t, run: echo again}\n");
    const result = await cluster.cli(["submit", file, "--wait"]);
    assert.equal(result.code, 0, result.stderr);
  } finally {
    await cluster.stop();
  }
});

Deno.test({
  name: "fabric dev runs a tracker and an agent that take jobs, and cleans up on Ctrl-C",
  ignore: lacks("bwrap"),
}, async () => {
  const dev = new Daemon("dev", ["dev"]);
  let root = "";
  try {
    const tracker = (await dev.waitForOutput(/export FABRIC_TRACKER=(\S+)/))[1];
    const token = (await dev.waitForOutput(/export FABRIC_TOKEN=\$\(cat (\S+)\)/))[1];
    const ca = (await dev.waitForOutput(/export FABRIC_CA=(\S+)/))[1];
    root = (await dev.waitForOutput(/data in (\S+)/))[1];
    const env = { FABRIC_TRACKER: tracker, FABRIC_TOKEN: (await Deno.readTextFile(token)).trim(), FABRIC_CA: ca };
    const result = await fabric(["submit", "--wait", "jobs/hello.yaml"], { env });
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /succeeded in .*: 9\/9 succeeded/);
    const status = await dev.stop("SIGINT");
    assert.equal(status.code, 0, dev.describe());
    await waitFor("the dev directory to be removed", async () => {
      try {
        await Deno.stat(root);
        return false;
      } catch {
        return true;
      }
    });
  } finally {
    await dev.stop("SIGKILL");
    if (root) await Deno.remove(root, { recursive: true }).catch(() => {});
  }
});

Deno.test("on the tracker's machine with the default data dir, clients need no flags", async () => {
  const home = await Deno.makeTempDir({ prefix: "fabric-home-" });
  const env = { XDG_DATA_HOME: join(home, "share"), HOME: home };
  const tracker = new Daemon("tracker", ["tracker", "--listen", "127.0.0.1:0"], env);
  try {
    const printed = await tracker.waitForOutput(/fabric agent --join \S+ --token-file join\.token --ca-hash \S+/);
    const joinToken = (await Deno.readTextFile(join(home, "share", "fabric", "tracker", "join.token"))).trim();
    assert.doesNotMatch(
      tracker.stdout,
      new RegExp(joinToken),
      "the join token is not printed: it would be in a terminal's scrollback and logs",
    );
    assert.ok(printed);
    const dir = join(home, "share", "fabric", "tracker");
    for (const secret of ["admin.token", "join.token", "ca.key", "tracker.key"]) {
      assert.equal((await Deno.stat(join(dir, secret))).mode! & 0o777, 0o600, secret);
    }
    const agents = await fabric(["agents"], { env });
    assert.equal(agents.code, 0, agents.stderr);
    assert.match(agents.stdout, /No agents have joined yet/);
    const status = await fabric(["status", "--json"], { env });
    assert.equal(status.code, 0, status.stderr);
    assert.deepEqual(JSON.parse(status.stdout), []);
  } finally {
    await tracker.stop();
    await Deno.remove(home, { recursive: true });
  }
});

Deno.test("validate reads script files relative to the job file; schema prints the JSON Schema", async () => {
  const dir = await Deno.makeTempDir({ prefix: "fabric-validate-" });
  try {
    await Deno.writeTextFile(join(dir, "job.yaml"), "name: s\ntasks:\n  - name: a\n    script: tools/a.ts\n");
    const missing = await fabric(["validate", join(dir, "job.yaml")]);
    assert.equal(missing.code, 2);
    assert.equal(
      missing.stderr.trim(),
      `Invalid job file "${join(dir, "job.yaml")}": line 4, column 13: "tasks[0].script" cannot be read from "${
        join(dir, "tools/a.ts")
      }": no such file`,
    );
    await Deno.mkdir(join(dir, "tools"));
    await Deno.writeTextFile(join(dir, "tools", "a.ts"), "console.log(1);\n");
    const ok = await fabric(["validate", join(dir, "job.yaml")]);
    assert.equal(ok.code, 0, ok.stderr);

    const schema = await fabric(["schema"]);
    assert.equal(schema.code, 0);
    const json = JSON.parse(schema.stdout);
    assert.equal(json.type, "object");
    assert.deepEqual(json.required, ["name", "tasks"]);
    assert.ok(json.properties.tasks.items.properties.matrix, "task keys are in the schema");
    assert.deepEqual(json.properties.select.enum, ["least_loaded", "random", "round_robin", "all"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
