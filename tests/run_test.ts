/**
 * `fabric run` and `fabric results` through a real tracker and agents: a command on every agent with
 * its lines prefixed by the agent's name, the worst exit code, --json, --async then results, and an
 * agent killed mid-run reported as such while the run still ends.
 */
import assert from "node:assert/strict";
import type { JobSummary } from "../src/protocol/mod.ts";
import { Cluster } from "../testing/cluster.ts";
import { lacks } from "../testing/machine.ts";
import { waitFor } from "../testing/process.ts";

interface CopyRecord {
  agent: string;
  state: string;
  exitCode: number | null;
  stdout: string;
  stderr: string;
}

Deno.test({
  name: "fabric run: --all on every agent, lines prefixed by agent, the worst exit code; --json; --async then results",
  ignore: lacks("bwrap"),
}, async (t) => {
  const cluster = await Cluster.start({ agents: [{ name: "a1" }, { name: "a2" }, { name: "a3" }] });
  try {
    await t.step("every agent runs it; each line is prefixed with its agent's name", async () => {
      const run = await cluster.cli(["run", "--all", "--", 'echo "out of $FABRIC_AGENT"; echo "err" >&2']);
      assert.equal(run.code, 0, run.stderr);
      for (const agent of ["a1", "a2", "a3"]) {
        assert.match(run.stdout, new RegExp(`^${agent}: out of ${agent}$`, "m"));
        assert.match(run.stderr, new RegExp(`^${agent}: err$`, "m"));
      }
      assert.match(run.stderr, /3 of 3 copies succeeded/);
    });

    await t.step("several words arrive as they were; the worst copy's exit code is the run's", async () => {
      const words = await cluster.cli(["run", "--agents", "a2", "--", "printf", "%s|", "two words", "it's"]);
      assert.equal(words.code, 0, words.stderr);
      assert.equal(words.stdout, "a2: two words|it's|\n");
      const worst = await cluster.cli(["run", "--all", "--", 'case "$FABRIC_AGENT" in a2) exit 7;; a3) exit 3;; esac']);
      assert.equal(worst.code, 7, worst.stderr);
      assert.match(worst.stderr, /a2: failed: exit code 7/);
      assert.match(worst.stderr, /a3: failed: exit code 3/);
      assert.doesNotMatch(worst.stderr, /a1: failed/);
    });

    await t.step("--json: one object per copy with its output", async () => {
      const run = await cluster.cli(["run", "--all", "--json", "--", 'echo "$FABRIC_AGENT"; exit 0']);
      assert.equal(run.code, 0, run.stderr);
      const copies = JSON.parse(run.stdout) as CopyRecord[];
      assert.deepEqual(copies.map((c) => c.agent).sort(), ["a1", "a2", "a3"]);
      for (const copy of copies) {
        assert.equal(copy.state, "succeeded");
        assert.equal(copy.exitCode, 0);
        assert.equal(copy.stdout, `${copy.agent}\n`);
      }
    });

    await t.step("--async prints a token at once; results shows what ended, and --wait waits", async () => {
      const gates = await gateDir(cluster);
      const gate = `${gates}/open`;
      const started = await cluster.cli([
        "run",
        "--all",
        "--async",
        "--permissions",
        JSON.stringify({ read: [gates] }),
        "--",
        `echo "from $FABRIC_AGENT"; for i in $(seq 1 200); do [ -e ${gate} ] && exit 0; sleep 0.1; done; exit 9`,
      ]);
      assert.equal(started.code, 0, started.stderr);
      const token = started.stdout.trim();
      assert.match(token, /^[a-z0-9]+$/);
      const early = await cluster.cli(["results", token]);
      assert.equal(early.code, 0, early.stderr);
      assert.match(early.stderr, /0 of 3 succeeded; 3 still going/);
      await Deno.writeTextFile(gate, "");
      const done = await cluster.cli(["results", token, "--wait"]);
      assert.equal(done.code, 0, done.stderr);
      for (const agent of ["a1", "a2", "a3"]) assert.match(done.stdout, new RegExp(`^${agent}: from ${agent}$`, "m"));
      assert.match(done.stderr, /3 of 3 succeeded$/m);
    });

    await t.step("bad flags change nothing and name the flag", async () => {
      const before = (await cluster.json<JobSummary[]>(["status"])).length;
      for (
        const [args, message] of [
          [["run", "--", ""], /.+/],
          [["run", "uptime"], /takes its command after --/],
          [["run", "--all", "--select", "random", "--", "true"], /--all and --select/],
          [["run", "--constraint", "noequals", "--", "true"], /--constraint takes LABEL=VALUE/],
          [["run", "--permissions", "{net", "--", "true"], /--permissions takes JSON/],
          [["run", "--timeout", "soon", "--", "true"], /--timeout/],
        ] as const
      ) {
        const bad = await cluster.cli([...args]);
        assert.notEqual(bad.code, 0, args.join(" "));
        assert.match(bad.stderr, message, args.join(" "));
      }
      assert.equal((await cluster.json<JobSummary[]>(["status"])).length, before);
    });
  } finally {
    await cluster.stop();
  }
});

Deno.test({
  name: "fabric run --all: an agent killed mid-run is reported for its copy, and the run still ends",
  ignore: lacks("bwrap"),
}, async () => {
  const cluster = await Cluster.start({ agents: [{ name: "a1" }, { name: "a2" }], agentTtl: "1500ms" });
  try {
    const gates = await gateDir(cluster);
    const gate = `${gates}/open`;
    const running = cluster.cli([
      "run",
      "--all",
      "--permissions",
      JSON.stringify({ read: [gates] }),
      "--",
      `for i in $(seq 1 300); do [ -e ${gate} ] && exit 0; sleep 0.1; done; exit 9`,
    ], { timeoutMs: 60_000 });
    await waitFor("both copies to run", async () => {
      const jobs = await cluster.json<JobSummary[]>(["status"]);
      return jobs.length === 1 && jobs[0].counts.running === 2;
    }, { timeoutMs: 20_000 });
    const a2 = cluster.agents.get("a2")!;
    a2.kill("SIGKILL");
    await a2.exited;
    await waitFor("a2 to be down", async () => {
      const agents = await cluster.json<{ name: string; state: string }[]>(["agents"]);
      return agents.some((a) => a.name === "a2" && a.state === "down");
    }, { timeoutMs: 20_000 });
    await Deno.writeTextFile(gate, "");
    const run = await running;
    assert.equal(run.code, 1, run.stderr);
    assert.match(run.stderr, /a2: failed: agent a2 is down, and this copy runs only there/);
    assert.doesNotMatch(run.stderr, /a1: failed/);
    assert.match(run.stderr, /1 of 2 copies succeeded/);
  } finally {
    await cluster.stop();
  }
});

/** A folder the tasks may read (granted by --permissions), where the test opens their gate. */
async function gateDir(cluster: Cluster): Promise<string> {
  const dir = `${cluster.root}/gates`;
  await Deno.mkdir(dir, { recursive: true, mode: 0o755 });
  await Deno.chmod(dir, 0o755);
  return dir;
}
