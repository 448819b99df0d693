/**
 * Channels through a real tracker process (SQLite), over the API and the CLI: keys and revisions,
 * compare-and-set, TTLs, limits, watches in order that resume after a restart, compacted history, and
 * the bound on watches per caller. Tasks and channels: channels_task_test.ts.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { FabricClient } from "../src/client/mod.ts";
import { type ChannelChange, FabricError } from "../src/protocol/mod.ts";
import { MAX_WATCHES_PER_CALLER } from "../src/tracker/mod.ts";
import { Cluster } from "../testing/cluster.ts";
import { Daemon, waitFor } from "../testing/process.ts";

/** Small, so that compaction is reached in a few writes. */
const HISTORY = 40;

async function clientOf(cluster: Cluster, token = cluster.adminToken): Promise<FabricClient> {
  const caPem = await Deno.readTextFile(join(cluster.trackerDir, "ca.pem"));
  return new FabricClient({ url: cluster.url, token, caPem, timeoutMs: 10_000 });
}

async function refusal(promise: Promise<unknown>): Promise<FabricError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof FabricError) return error;
    throw error;
  }
  throw new Error("expected a refusal");
}

Deno.test("channels through a tracker: keys, compare-and-set, TTLs, limits, watches and compaction", async (t) => {
  const cluster = await Cluster.start({ trackerArgs: ["--channel-history", String(HISTORY)] });
  let client = await clientOf(cluster);
  try {
    await t.step("set, get, list and del over the CLI; each change's revision greater than the last", async () => {
      const first = await cluster.cli(["channel", "set", "work", "a", "one"]);
      assert.equal(first.code, 0, first.stderr);
      const created = Number(first.stdout.match(/created at revision (\d+)/)![1]);
      const again = await cluster.cli(["channel", "set", "work", "a", "two", "--json"]);
      const replaced = JSON.parse(again.stdout);
      assert.equal(replaced.created, false);
      assert.equal(replaced.key.createRevision, created);
      assert.ok(replaced.key.revision > created);
      const got = await cluster.cli(["channel", "get", "work", "a"]);
      assert.equal(got.stdout, "two\n");
      assert.equal((await cluster.cli(["channel", "set", "work", "b", "x y"])).code, 0);
      const listed = await cluster.json<{ keys: Array<{ key: string; value: string }>; revision: number }>([
        "channel",
        "list",
        "work",
      ]);
      assert.deepEqual(listed.keys.map((k) => [k.key, k.value]), [["a", "two"], ["b", "x y"]]);
      const channels = await cluster.cli(["channels"]);
      assert.match(channels.stdout, /^work\s+2$/m);
      const deleted = await cluster.cli(["channel", "del", "work", "b"]);
      assert.match(deleted.stdout, /deleted at revision (\d+)/);
      assert.ok(Number(deleted.stdout.match(/revision (\d+)/)![1]) > listed.revision);
      const missing = await cluster.cli(["channel", "get", "work", "b"]);
      assert.equal(missing.code, 1);
      assert.match(missing.stderr, /Channel "work" has no key "b"/);
      const badName = await cluster.cli(["channel", "get", "no/such", "a"]);
      assert.equal(badName.code, 2);
      assert.match(badName.stderr, /The channel's name must be letters/);
    });

    await t.step("compare-and-set by revision: a conflict is exit 1 and a 409 naming the revision now", async () => {
      const key = await client.getChannelKey("work", "a");
      const stale = await cluster.cli(["channel", "set", "work", "a", "x", "--if-revision", String(key.revision - 1)]);
      assert.equal(stale.code, 1);
      assert.match(stale.stderr, new RegExp(`it is at revision ${key.revision}, not at revision ${key.revision - 1}`));
      const taken = await refusal(client.setChannelKey("work", "a", { value: "x", ifRevision: 0 }));
      assert.equal(taken.code, "conflict");
      assert.deepEqual(taken.details, { revision: key.revision });
      const ok = await cluster.cli(["channel", "set", "work", "a", "x", "--if-revision", String(key.revision)]);
      assert.equal(ok.code, 0, ok.stderr);
      const fresh = await cluster.cli(["channel", "set", "work", "lock", "me", "--if-revision", "0"]);
      assert.equal(fresh.code, 0, fresh.stderr);
      const second = await cluster.cli(["channel", "set", "work", "lock", "you", "--if-revision", "0"]);
      assert.equal(second.code, 1);
      const lock = await client.getChannelKey("work", "lock");
      assert.equal(lock.value, "me", "the second taker got nothing");
      const delStale = await refusal(client.deleteChannelKey("work", "lock", { ifRevision: lock.revision + 100 }));
      assert.equal(delStale.code, "conflict");
      assert.equal(
        (await client.deleteChannelKey("work", "lock", { ifRevision: lock.revision })).revision! > lock.revision,
        true,
      );
    });

    await t.step("a key with a TTL expires, an expire change in the history", async () => {
      const set = await client.setChannelKey("ttl", "lease", { value: "mine", ttlMs: 1000 });
      assert.ok(set.key.expiresAt! > Date.now());
      const change = await waitFor("the key to expire", async () => {
        const answer = await client.watchChannel("ttl", set.key.revision, { waitMs: 2000 });
        return answer.changes[0];
      }, { timeoutMs: 10_000 });
      assert.equal(change.kind, "expire");
      assert.equal(change.key, "lease");
      assert.equal(change.value, null);
      assert.equal((await refusal(client.getChannelKey("ttl", "lease"))).code, "not_found");
      const bad = await cluster.cli(["channel", "set", "ttl", "k", "v", "--ttl", "10ms"]);
      assert.equal(bad.code, 2);
      assert.match(bad.stderr, /--ttl must be from 1s to 7d/);
    });

    await t.step("limits: a key or value too large, a channel too full, refused naming the limit", async () => {
      const longKey = await refusal(client.setChannelKey("limits", "k".repeat(513), { value: "v" }));
      assert.equal(longKey.code, "bad_request");
      assert.match(longKey.message, /key may be at most 512 bytes long \(UTF-8\), got 513/);
      const longValue = await refusal(client.setChannelKey("limits", "k", { value: "v".repeat(64 * 1024 + 1) }));
      assert.equal(longValue.code, "bad_request");
      assert.match(longValue.message, /"value": may be at most 65536 bytes long \(UTF-8\), got 65537/);
      const cli = await cluster.cli(["channel", "set", "limits", "k", "v".repeat(64 * 1024 + 1)]);
      assert.equal(cli.code, 2);
      assert.match(cli.stderr, /The value may be at most 65536 bytes/);
      for (let i = 0; i < 1000; i += 50) {
        await Promise.all(
          Array.from({ length: 50 }, (_, j) => client.setChannelKey("limits", `k${i + j}`, { value: "v" })),
        );
      }
      const full = await refusal(client.setChannelKey("limits", "one-more", { value: "v" }));
      assert.equal(full.code, "limit_exceeded");
      assert.match(full.message, /a channel holds at most 1000 keys \(limit "keysPerChannel"\)/);
      assert.deepEqual(full.details, { limit: "keysPerChannel", value: 1000 });
      await client.setChannelKey("limits", "k0", { value: "replacing a key is no new key" });
    });

    await t.step("a watch from the CLI sees every change in order, resuming across a tracker restart", async () => {
      const from = (await client.listChannelKeys("flow")).revision;
      const watcher = new Daemon(
        "watcher",
        ["channel", "watch", "flow", "--from-revision", String(from), "--count", "20", "--json"],
        cluster.clientEnv,
      );
      try {
        for (let i = 0; i < 10; i++) await client.setChannelKey("flow", `k${i % 3}`, { value: `v${i}` });
        await watcher.waitForOutput(/"value":"v9"/);
        // The tracker goes away and comes back (the same store): the watcher goes on from the last it saw.
        await cluster.tracker.stop();
        await cluster.startTracker();
        client.close();
        client = await clientOf(cluster);
        for (let i = 10; i < 19; i++) await client.setChannelKey("flow", `k${i % 3}`, { value: `v${i}` });
        await client.deleteChannelKey("flow", "k0");
        const status = await watcher.ended(30_000);
        assert.equal(status.code, 0, watcher.describe());
        const changes = watcher.stdout.trim().split("\n").map((line) => JSON.parse(line) as ChannelChange);
        assert.deepEqual(changes.map((c) => c.value), [...Array.from({ length: 19 }, (_, i) => `v${i}`), null]);
        assert.equal(changes.at(-1)!.kind, "del");
        for (let i = 1; i < changes.length; i++) assert.ok(changes[i].revision > changes[i - 1].revision);
        assert.ok(changes[0].revision > from);
        // The same from the API, a page at a time from the last revision seen.
        const firstPage = await client.watchChannel("flow", from, { waitMs: 0 });
        assert.deepEqual(firstPage.changes, changes);
        const rest = await client.watchChannel("flow", changes[9].revision, { waitMs: 0 });
        assert.deepEqual(rest.changes, changes.slice(10));
      } finally {
        await watcher.stop();
      }
    });

    await t.step("a watch from compacted history is refused with code compacted, never a gap", async () => {
      for (let i = 0; i < HISTORY + 5; i++) await client.setChannelKey("busy", "k", { value: `${i}` });
      const old = await refusal(client.watchChannel("work", 1, { waitMs: 0 }));
      assert.equal(old.code, "compacted");
      const { compacted } = old.details as { compacted: number };
      assert.match(old.message, new RegExp(`before revision ${compacted} has been compacted`));
      const cli = await cluster.cli(["channel", "watch", "work", "--from-revision", "1"]);
      assert.equal(cli.code, 1);
      assert.match(cli.stderr, /has been compacted .* watch from its revision/);
      // From the oldest revision kept, nothing is missing.
      const kept = await client.watchChannel("busy", compacted, { waitMs: 0 });
      assert.ok(kept.changes.length > 0);
      assert.equal(kept.changes.at(-1)!.value, `${HISTORY + 4}`);
    });

    await t.step("watches are bounded per caller, and one ended by its caller is no longer counted", async () => {
      const reader = (await cluster.cli(["token", "create", "--role", "read", "--name", "watcher"])).stdout.trim();
      const readClient = await clientOf(cluster, reader);
      const stop = new AbortController();
      try {
        const revision = (await readClient.listChannelKeys("quiet")).revision;
        // Each held until the step ends it. One that ends first (its 20 s over, or its connection lost on a loaded
        // machine, as CI saw once: then the bound was never reached) is made again, so that all are held at once.
        const hold = async () => {
          for (let attempt = 0; attempt < 20 && !stop.signal.aborted; attempt++) {
            await readClient.watchChannel("quiet", revision, { waitMs: 20_000, signal: stop.signal }).catch(() => null);
          }
        };
        const held = Array.from({ length: MAX_WATCHES_PER_CALLER }, hold);
        const refused = await waitFor("a watch past the bound to be refused", async () => {
          const error = await refusal(readClient.watchChannel("quiet", revision, { waitMs: 0 }));
          return error.code === "too_many_requests" ? error : undefined;
        }, { timeoutMs: 60_000 }); // 32 connections made at once, each with its TLS handshake: slow on a loaded machine
        assert.match(refused.message, /holds 32 channel watches already/);
        stop.abort();
        await Promise.all(held);
        await waitFor("the ended watches to be released", async () => {
          const answer = await readClient.watchChannel("quiet", revision, { waitMs: 0 }).catch(() => null);
          return answer !== null;
        });
        // A read token watches but does not write.
        assert.equal((await refusal(readClient.setChannelKey("quiet", "k", { value: "v" }))).code, "forbidden");
      } finally {
        readClient.close();
      }
    });
  } finally {
    client.close();
    await cluster.stop();
  }
});
