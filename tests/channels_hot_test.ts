/**
 * Channels with two trackers on one PostgreSQL (testing/hot_cluster.ts): a watch on the follower sees
 * the changes written through the leader and through itself, in order; when the leader hands over,
 * the watch resumes on the new leader from the last revision it saw, and revisions go on growing.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import type { ChannelChange } from "../src/protocol/mod.ts";
import { withHotCluster } from "../testing/hot_cluster.ts";
import { lacks } from "../testing/machine.ts";
import { Daemon } from "../testing/process.ts";

Deno.test({
  name: "a watch on a follower sees every change written through the leader, and resumes across a handover",
  ignore: lacks("postgres"),
  fn: () =>
    withHotCluster({ trackers: 2, lease: "5000ms" }, async (cluster) => {
      assert.equal(await cluster.leads(0), 1);
      const set = async (via: number, key: string, value: string) => {
        const result = await cluster.cli(via, ["channel", "set", "shared", key, value]);
        assert.equal(result.code, 0, result.stderr);
        return Number(result.stdout.match(/at revision (\d+)/)![1]);
      };
      const first = await set(0, "a", "1");
      const watcher = new Daemon(
        "watcher",
        ["channel", "watch", "shared", "--from-revision", String(first), "--count", "4", "--json"],
        {
          FABRIC_TRACKER: cluster.trackers[1].url,
          FABRIC_TOKEN: cluster.adminToken,
          FABRIC_CA: join(cluster.trackers[0].dir, "ca.pem"),
          FABRIC_DATA_DIR: join(cluster.root, "no-local-tracker"),
        },
      );
      try {
        const revisions = [await set(0, "b", "2"), await set(1, "c", "3")];
        await watcher.waitForOutput(/"value":"3"/);
        // The leader stops (a SIGTERM hands over at once): the follower leads, the watch resumes on it.
        await cluster.stopTracker(0);
        await cluster.leads(1);
        revisions.push(await set(1, "d", "4"), await set(1, "a", "5"));
        const status = await watcher.ended(30_000);
        assert.equal(status.code, 0, watcher.describe());
        const changes = watcher.stdout.trim().split("\n").map((line) => JSON.parse(line) as ChannelChange);
        assert.deepEqual(changes.map((c) => [c.key, c.value]), [["b", "2"], ["c", "3"], ["d", "4"], ["a", "5"]]);
        assert.deepEqual(changes.map((c) => c.revision), revisions);
        for (let i = 1; i < revisions.length; i++) assert.ok(revisions[i] > revisions[i - 1], `${revisions}`);
      } finally {
        await watcher.stop();
      }
    }),
});
