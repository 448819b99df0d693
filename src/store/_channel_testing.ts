/**
 * The store contract's channel cases (store_contract_test.ts runs them on every store): keys and their
 * revisions, compare-and-set, limits, expiry and keys bound to attempts, the history a watch reads and
 * its compaction, revisions that never go back (a reopen, everything deleted), and the fence.
 */
import assert from "node:assert/strict";
import type { ChannelWrite, ChannelWriteResult } from "./channels.ts";
import { LeaseLostError } from "./lease.ts";
import type { Store } from "./store.ts";

interface Subject {
  open(): Promise<Store>;
  reopen(store: Store): Promise<Store>;
}

const LIMITS = { keysPerChannel: 3, channels: 2 };

function set(
  channel: string,
  key: string,
  value: string,
  more: Partial<Extract<ChannelWrite, { op: "set" }>> = {},
): ChannelWrite {
  return {
    op: "set",
    channel,
    key,
    value,
    expiresAt: null,
    owner: null,
    limits: LIMITS,
    now: 10,
    history: 100,
    ...more,
  };
}

function del(channel: string, key: string, ifRevision?: number): ChannelWrite {
  return { op: "del", channel, key, ifRevision, now: 20, history: 100 };
}

function revisionOf(result: ChannelWriteResult): number {
  assert.ok(result.ok, JSON.stringify(result));
  return result.revision!;
}

export const CHANNEL_CASES: Record<string, (subject: Subject) => Promise<void>> = {
  "channel keys: set, get, list and delete, each change a revision that only grows; compare-and-set by revision":
    async (subject) => {
      const store = await subject.open();
      const first = await store.writeChannel(set("work", "a", "1"));
      assert.ok(first.ok && first.created);
      const r1 = revisionOf(first);
      const r2 = revisionOf(await store.writeChannel(set("work", "b", "2")));
      const again = await store.writeChannel(set("work", "a", "one"));
      const r3 = revisionOf(again);
      assert.ok(r1 < r2 && r2 < r3, `${r1} ${r2} ${r3}`);
      assert.ok(again.ok && !again.created);
      const a = (await store.getChannelKey("work", "a"))!;
      assert.deepEqual(a, {
        channel: "work",
        key: "a",
        value: "one",
        createRevision: r1,
        revision: r3,
        expiresAt: null,
        owner: null,
      });
      assert.equal(await store.getChannelKey("work", "nope"), null);
      // Compare-and-set: the key's revision, 0 for "must not exist"; a refusal names the revision now.
      assert.deepEqual(await store.writeChannel(set("work", "a", "x", { ifRevision: r1 })), {
        ok: false,
        conflict: r3,
      });
      assert.deepEqual(await store.writeChannel(set("work", "a", "x", { ifRevision: 0 })), { ok: false, conflict: r3 });
      assert.deepEqual(await store.writeChannel(set("work", "c", "x", { ifRevision: 5 })), { ok: false, conflict: 0 });
      const r4 = revisionOf(await store.writeChannel(set("work", "a", "two", { ifRevision: r3 })));
      const r5 = revisionOf(await store.writeChannel(set("work", "c", "3", { ifRevision: 0 })));
      const listed = await store.listChannelKeys("work", 10);
      assert.deepEqual(listed.keys.map((k) => [k.key, k.value, k.revision]), [["a", "two", r4], ["b", "2", r2], [
        "c",
        "3",
        r5,
      ]]);
      assert.equal(listed.revision, r5);
      assert.deepEqual(await store.listChannels(10), [{ name: "work", keys: 3 }]);
      assert.deepEqual(await store.writeChannel(del("work", "a", r3)), { ok: false, conflict: r4 });
      const r6 = revisionOf(await store.writeChannel(del("work", "a", r4)));
      assert.deepEqual(await store.writeChannel(del("work", "a")), { ok: true, revision: null }, "no key: no change");
      assert.equal(await store.getChannelKey("work", "a"), null);
      assert.deepEqual(await store.listChannels(10), [{ name: "work", keys: 2 }]);
      const { changes } = await store.readChannelChanges("work", 0, 100);
      assert.deepEqual(changes.map((c) => [c.revision, c.key, c.kind, c.value]), [
        [r1, "a", "set", "1"],
        [r2, "b", "set", "2"],
        [r3, "a", "set", "one"],
        [r4, "a", "set", "two"],
        [r5, "c", "set", "3"],
        [r6, "a", "del", null],
      ]);
      await store.close();
    },

  "channel limits: keys per channel and channels are refused, naming the limit; a replaced key counts once": async (
    subject,
  ) => {
    const store = await subject.open();
    for (const key of ["a", "b", "c"]) revisionOf(await store.writeChannel(set("one", key, "v")));
    revisionOf(await store.writeChannel(set("one", "a", "again")));
    assert.deepEqual(await store.writeChannel(set("one", "d", "v")), { ok: false, limit: "keysPerChannel", value: 3 });
    revisionOf(await store.writeChannel(set("two", "a", "v")));
    assert.deepEqual(await store.writeChannel(set("three", "a", "v")), { ok: false, limit: "channels", value: 2 });
    // A channel whose last key goes is no longer one.
    revisionOf(await store.writeChannel(del("two", "a")));
    assert.deepEqual(await store.listChannels(10), [{ name: "one", keys: 3 }]);
    revisionOf(await store.writeChannel(set("three", "a", "v")));
    assert.equal((await store.readChannelChanges("one", 0, 100)).changes.length, 4, "a refusal is no change");
    await store.close();
  },

  "channel keys expire when their time has come, and keys bound to an attempt go with it, each a change": async (
    subject,
  ) => {
    const store = await subject.open();
    revisionOf(await store.writeChannel(set("c", "soon", "v", { expiresAt: 100 })));
    revisionOf(await store.writeChannel(set("c", "later", "v", { expiresAt: 200 })));
    revisionOf(await store.writeChannel(set("t", "t1", "v", { owner: { task: "job.0", attempt: 1 } })));
    revisionOf(await store.writeChannel(set("t", "t2", "v", { owner: { task: "job.0", attempt: 2 } })));
    revisionOf(await store.writeChannel(set("t", "other", "v", { owner: { task: "job.1", attempt: 1 } })));
    assert.deepEqual(
      (await store.channelOwners()).sort((a, b) => a.task.localeCompare(b.task) || a.attempt - b.attempt),
      [{ task: "job.0", attempt: 1 }, { task: "job.0", attempt: 2 }, { task: "job.1", attempt: 1 }],
    );
    assert.equal(await store.nextChannelExpiry(), 100);
    const expired = await store.writeChannel({ op: "expire", limit: 10, now: 150, history: 100 });
    assert.equal(await store.nextChannelExpiry(), 200);
    assert.ok(expired.ok && expired.count === 1);
    assert.equal(await store.getChannelKey("c", "soon"), null);
    assert.ok(await store.getChannelKey("c", "later"));
    // Attempt 1 ended: its key goes, attempt 2's stays.
    const released = await store.writeChannel({
      op: "release",
      owners: [{ task: "job.0", attempt: 1 }],
      limit: 10,
      now: 160,
      history: 100,
    });
    assert.ok(released.ok && released.count === 1);
    assert.ok(await store.getChannelKey("t", "t2"));
    assert.equal(await store.getChannelKey("t", "t1"), null);
    const changed = async (channel: string) =>
      (await store.readChannelChanges(channel, 0, 100)).changes.slice(-1).map((c) => [c.key, c.kind, c.value, c.at]);
    assert.deepEqual(await changed("c"), [["soon", "expire", null, 150]]);
    assert.deepEqual(await changed("t"), [["t1", "expire", null, 160]]);
    const none = await store.writeChannel({ op: "expire", limit: 10, now: 150, history: 100 });
    assert.deepEqual(none, { ok: true, revision: null, count: 0 });
    await store.close();
  },

  "channel history: changes after a revision in order, compacted past the last N, revisions never reused": async (
    subject,
  ) => {
    let store = await subject.open();
    const revisions: number[] = [];
    for (let i = 0; i < 8; i++) {
      revisions.push(revisionOf(await store.writeChannel(set(i % 2 ? "odd" : "even", "k", `${i}`, { history: 4 }))));
    }
    const even = await store.readChannelChanges("even", revisions[3], 100);
    assert.deepEqual(even.changes.map((c) => c.value), ["4", "6"]);
    assert.equal(even.revision, revisions[7]);
    // Only the last 4 revisions are kept; the mark says up to where history is gone.
    assert.equal(even.compacted, revisions[7] - 4);
    const all = await store.readChannelChanges("odd", 0, 100);
    assert.ok(all.changes.every((c) => c.revision > all.compacted));
    assert.deepEqual(all.changes.map((c) => c.value), ["5", "7"]);
    assert.deepEqual((await store.readChannelChanges("odd", revisions[5], 1)).changes.map((c) => c.value), ["7"]);
    // Everything deleted, the store reopened: the next revision is still greater than any before.
    revisionOf(await store.writeChannel(del("even", "k")));
    const last = revisionOf(await store.writeChannel(del("odd", "k")));
    store = await subject.reopen(store);
    assert.deepEqual(await store.listChannels(10), []);
    const next = revisionOf(await store.writeChannel(set("even", "k", "new")));
    assert.ok(next > last, `${next} > ${last}`);
    assert.equal((await store.listChannelKeys("even", 10)).revision, next);
    await store.close();
  },

  "a channel write is fenced: it lands under the lease's holder, and not once the lease has moved on": async (
    subject,
  ) => {
    const store = await subject.open();
    const lease = (await store.acquireLease("t1", 50))!;
    const fence = { holder: "t1", epoch: lease.epoch };
    revisionOf(await store.writeChannel(set("c", "k", "v"), fence));
    if (lease.remainingMs === null) return await store.close(); // SQLite: one tracker alone, always leading
    const deadline = Date.now() + 5000;
    let taken = await store.acquireLease("t2", 10_000);
    while (taken?.holder !== "t2" && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      taken = await store.acquireLease("t2", 10_000);
    }
    assert.equal(taken?.holder, "t2");
    await assert.rejects(store.writeChannel(set("c", "k", "stale"), fence), LeaseLostError);
    assert.equal((await store.getChannelKey("c", "k"))!.value, "v");
    revisionOf(await store.writeChannel(set("c", "k", "new"), { holder: "t2", epoch: taken!.epoch }));
    await store.close();
  },
};
