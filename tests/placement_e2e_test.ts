/** Three real agents with different labels, resources and weights: tasks end where the rules say. */
import assert from "node:assert/strict";
import type { JobDetail } from "../src/protocol/mod.ts";
import { Cluster } from "../testing/cluster.ts";
import { lacks } from "../testing/machine.ts";

Deno.test({
  name: "placement on three agents follows select, strategy, constraints, resources and weights",
  ignore: lacks("bwrap"),
}, async (t) => {
  const cluster = await Cluster.start({
    agents: [
      { name: "a1", slots: 4, labels: "zone=eu,disk=ssd", extraArgs: ["--cpu", "4"] },
      { name: "a2", slots: 4, labels: "zone=us", extraArgs: ["--cpu", "2", "--weight", "1.4"] },
      { name: "a3", slots: 2, labels: "zone=eu,disk=hdd", extraArgs: ["--cpu", "1", "--weight", "1.1"] },
    ],
  });
  /** Run a job whose tasks all start together (they sleep), and return where each task ran. */
  const run = async (name: string, tasks: string): Promise<JobDetail> => {
    const file = await cluster.writeFile(`${name}.yaml`, `name: ${name}\ntasks:\n${tasks}`);
    const result = await cluster.cli(["submit", file, "--wait", "--json"]);
    assert.equal(result.code, 0, result.stderr);
    return JSON.parse(result.stdout) as JobDetail;
  };
  const agents = (job: JobDetail, template?: string) =>
    job.tasks.filter((x) => !template || x.template === template).map((x) => x.agent);
  try {
    await t.step("constraints and resources narrow the candidates", async () => {
      const job = await run(
        "rules",
        `  - {name: eu, run: sleep 0.3, count: 4, constraints: [{label: zone, equals: eu}]}
  - {name: ssd, run: sleep 0.3, constraints: [{label: disk, in: [ssd, nvme]}]}
  - {name: not-eu, run: sleep 0.3, constraints: [{label: zone, notEquals: eu}]}
  - {name: has-disk, run: sleep 0.3, count: 2, constraints: [{label: disk, exists: true}]}
  - {name: named, run: sleep 0.3, constraints: [{label: fabric.name, matches: "^a[23]$"}]}
  - {name: big, run: sleep 0.3, resources: {cpu: 3}}
`,
      );
      assert.ok(agents(job, "eu").every((a) => a === "a1" || a === "a3"));
      assert.deepEqual(agents(job, "ssd"), ["a1"]);
      assert.deepEqual(agents(job, "not-eu"), ["a2"]);
      assert.ok(agents(job, "has-disk").every((a) => a === "a1" || a === "a3"));
      assert.ok(["a2", "a3"].includes(agents(job, "named")[0]!));
      assert.deepEqual(agents(job, "big"), ["a1"]);
    });
    await t.step("pins and exclusions", async () => {
      const job = await run(
        "pins",
        `  - {name: pinned, run: sleep 0.2, count: 3, agents: [a2]}
  - {name: excluded, run: sleep 0.2, count: 3, exclude: [a1, a2]}
`,
      );
      assert.deepEqual(agents(job, "pinned"), ["a2", "a2", "a2"]);
      assert.deepEqual(agents(job, "excluded"), ["a3", "a3", "a3"]);
    });
    await t.step("least_loaded spread weighs utilisation x weight", async () => {
      // Scores (used+1)/slots x weight, lowest first: a1 .25 .5 .75 1; a2 .35 .7 1.05; a3 .55 1.1 (no ties).
      const job = await run("spread", "  - {name: t, run: sleep 0.5, count: 6}\n");
      assert.deepEqual(agents(job), ["a1", "a2", "a1", "a3", "a2", "a1"]);
    });
    await t.step("binpack fills the fullest agent that fits first", async () => {
      const job = await run(
        "binpack",
        "  - {name: t, run: sleep 0.5, count: 3, strategy: binpack, agents: [a1, a3]}\n",
      );
      // a3 (2 slots) is fuller per task than a1 (4 slots): two go there, the third to a1.
      assert.deepEqual(agents(job), ["a3", "a3", "a1"]);
    });
    await t.step("round_robin rotates through the eligible agents by name", async () => {
      const job = await run("rr", "  - {name: t, run: sleep 0.3, count: 6, select: round_robin}\n");
      assert.deepEqual(agents(job), ["a1", "a2", "a3", "a1", "a2", "a3"]);
    });
    await t.step("random stays within the eligible agents", async () => {
      const job = await run("random", "  - {name: t, run: sleep 0.2, count: 6, select: random, exclude: [a3]}\n");
      assert.ok(agents(job).every((a) => a === "a1" || a === "a2"));
    });
    await t.step("all puts one copy on every eligible agent", async () => {
      const job = await run(
        "all",
        "  - {name: t, run: echo $FABRIC_AGENT, select: all, constraints: [{label: zone, equals: eu}]}\n",
      );
      assert.deepEqual(job.tasks.map((x) => [x.name, x.agent]), [["t@a1", "a1"], ["t@a3", "a3"]]);
    });
    await t.step("a weight changed live moves the work", async () => {
      const set = await cluster.cli(["agents", "weight", "a1", "100"]);
      assert.equal(set.code, 0, set.stderr);
      const job = await run("reweighted", "  - {name: t, run: sleep 0.5, count: 4, exclude: [a3]}\n");
      assert.deepEqual(agents(job), ["a2", "a2", "a2", "a2"]);
    });
  } finally {
    await cluster.stop();
  }
});
