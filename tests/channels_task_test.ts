/**
 * Tasks use channels without a network, through their agent's socket (agent/task_channels.ts): tasks on
 * two agents pass work through a channel while a watcher started from a terminal sees every change in
 * order; a key a task sets goes when its attempt ends; a task that reaches for a channel its job does not
 * grant is refused. Real tracker, agents, bubblewrap sandboxes and the `fabric` command inside them.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import type { ChannelChange } from "../src/protocol/mod.ts";
import { Cluster } from "../testing/cluster.ts";
import { lacks } from "../testing/machine.ts";
import { Daemon, waitFor } from "../testing/process.ts";
import { RawApi } from "../testing/raw_api.ts";

async function jobFile(cluster: Cluster, name: string, text: string): Promise<string> {
  const path = join(cluster.root, `${name}.yaml`);
  await Deno.writeTextFile(path, text);
  return path;
}

Deno.test({
  name: "tasks on two agents pass work through a channel; a terminal's watcher sees every change in order",
  ignore: lacks("bwrap"),
  fn: async () => {
    const cluster = await Cluster.start({ agents: [{ name: "a1" }, { name: "a2" }] });
    const watcher = new Daemon(
      "watcher",
      ["channel", "watch", "work", "--from-revision", "0", "--json", "--count", "5"],
      cluster.clientEnv,
    );
    try {
      // The producer announces itself with a key bound to its attempt (the default from a task), sets
      // the items (kept after it ends), and waits for the consumer's receipt before it ends.
      const file = await jobFile(
        cluster,
        "pipeline",
        `name: pipeline
permissions: {channels: [work]}
tasks:
  - name: producer
    agents: [a1]
    run: |
      set -e
      fabric channel set work producer "$FABRIC_AGENT"
      for i in 1 2; do fabric channel set work "item-$i" "payload $i" --no-task-bound; done
      fabric channel watch work --from-revision 0 --count 4 --json | grep -q '"key":"receipt"'
  - name: consumer
    agents: [a2]
    run: |
      set -e
      fabric channel watch work --from-revision 0 --count 3 >/dev/null
      got="$(fabric channel get work item-1),$(fabric channel get work item-2)"
      fabric channel set work receipt "$got" --no-task-bound
      echo "consumer on $FABRIC_AGENT read: $got"
`,
      );
      const submitted = await cluster.cli(["submit", file, "--wait", "--json"], { timeoutMs: 60_000 });
      assert.equal(submitted.code, 0, `${submitted.stdout}\n${submitted.stderr}`);
      const jobId = JSON.parse(submitted.stdout).jobId ?? JSON.parse(submitted.stdout).id;
      const logs = await cluster.cli(["logs", jobId]);
      assert.match(logs.stdout, /consumer on a2 read: payload 1,payload 2/);
      // The watcher saw the producer's key, both items, the receipt, then the producer's key expire with
      // its attempt: five changes, in order.
      const status = await watcher.ended(20_000);
      assert.equal(status.code, 0, watcher.describe());
      const changes = watcher.stdout.trim().split("\n").map((line) => JSON.parse(line) as ChannelChange);
      assert.deepEqual(changes.map((c) => [c.kind, c.key, c.value]), [
        ["set", "producer", "a1"],
        ["set", "item-1", "payload 1"],
        ["set", "item-2", "payload 2"],
        ["set", "receipt", "payload 1,payload 2"],
        ["expire", "producer", null],
      ]);
      for (let i = 1; i < changes.length; i++) assert.ok(changes[i].revision > changes[i - 1].revision);
      const keys = await cluster.json<{ keys: Array<{ key: string; task: string | null }> }>([
        "channel",
        "list",
        "work",
      ]);
      assert.deepEqual(keys.keys.map((k) => k.key), ["item-1", "item-2", "receipt"], "the producer's key went with it");
    } finally {
      await watcher.stop();
      await cluster.stop();
    }
  },
});

Deno.test({
  name: "a task reaching for a channel its job does not grant, or an agent for a task not its own, is refused (403)",
  ignore: lacks("bwrap"),
  fn: async () => {
    const cluster = await Cluster.start({ agents: [{ name: "a1" }, { name: "a2" }] });
    const api = await RawApi.of(cluster);
    try {
      assert.equal((await cluster.cli(["channel", "set", "secret-plans", "k", "v"])).code, 0);
      // The holder runs on a1 until the test lets it go: an attempt another agent may try to act for.
      const file = await jobFile(
        cluster,
        "nosy",
        `name: nosy
permissions: {channels: [mine]}
agents: [a1]
tasks:
  - name: reader
    run: |
      fabric channel set mine k ok
      fabric channel get secret-plans k 2>&1 || echo "get exited $?"
      fabric channel set secret-plans k overwritten || echo "set exited $?"
      fabric channel watch secret-plans --from-revision 0 --count 1 || echo "watch exited $?"
      FABRIC_CHANNEL_TOKEN=guessed fabric channel get mine k 2>&1 || echo "a wrong token exited $?"
  - name: without
    permissions: {channels: []}
    run: |
      test -z "$FABRIC_TRACKER" && test -z "$FABRIC_CHANNEL_TOKEN" && echo "no channel socket"
  - name: holder
    run: |
      fabric channel set mine holder "$FABRIC_TASK_ID" --no-task-bound
      until fabric channel get mine release >/dev/null 2>&1; do sleep 0.2; done
`,
      );
      const submitted = await cluster.cli(["submit", file, "--json"]);
      assert.equal(submitted.code, 0, submitted.stderr);
      const jobId = JSON.parse(submitted.stdout).jobId;
      const holder = await waitFor("the holder to run", async () => {
        const answer = await api.request("GET", "/v1/channels/mine/keys/holder", cluster.adminToken);
        return answer.status === 200 ? (answer.json as { value: string }).value : undefined;
      }, { timeoutMs: 30_000 });
      // a2's own credential, naming the attempt that runs on a1: refused; a1's is let through.
      const credential = async (agent: string) =>
        JSON.parse(await Deno.readTextFile(join(cluster.agentDir(agent), "agent.json"))).credential as string;
      const forged = await api.request(
        "PUT",
        "/v1/channels/mine/keys/forged",
        await credential("a2"),
        {
          value: "from a2",
        },
        10_000,
        undefined,
        { "x-fabric-task": `${holder}/1` },
      );
      assert.equal(forged.status, 403, forged.text);
      assert.match(forged.text, /attempt 1 of task \S+ does not run on this agent now/);
      const own = await api.request(
        "GET",
        "/v1/channels/mine/keys/holder",
        await credential("a1"),
        undefined,
        10_000,
        undefined,
        {
          "x-fabric-task": `${holder}/1`,
        },
      );
      assert.equal(own.status, 200, own.text);
      assert.equal((await cluster.cli(["channel", "set", "mine", "release", "now"])).code, 0);
      const job = await waitFor("the job to end", async () => {
        const job = await cluster.json<{ state: string }>(["status", jobId]);
        return job.state !== "running" && job.state !== "queued" ? job : undefined;
      }, { timeoutMs: 60_000 });
      const logs = (await cluster.cli(["logs", jobId])).stdout;
      assert.equal(job.state, "succeeded", logs);
      for (const verb of ["get", "set", "watch"]) assert.match(logs, new RegExp(`${verb} exited 6`), logs);
      assert.match(logs, /does not grant channel "secret-plans"/);
      assert.match(logs, /a wrong token exited 3/);
      assert.match(logs, /no channel socket/);
      const plans = await cluster.cli(["channel", "get", "secret-plans", "k"]);
      assert.equal(plans.stdout, "v\n", "nothing was overwritten");
      assert.equal((await cluster.cli(["channel", "get", "mine", "forged"])).code, 1, "the forged set wrote nothing");
    } finally {
      await cluster.stop();
    }
  },
});
