/**
 * The leader's channels over a real SQLite store, with the clock and the attempts' lives in the test's
 * hands: a TTL's expiry and an attempt's end each become a change a watch sees, in order; a watch waits
 * for the next change and ends when its caller goes away; history past the kept revisions is refused.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { FabricError } from "../protocol/mod.ts";
import { type ChannelOwner, SqliteStore } from "../store/mod.ts";
import { testClock } from "./_testing.ts";
import { Channels } from "./channels.ts";

async function withChannels(
  body: (c: { channels: Channels; clock: { t: number }; live: Set<string> }) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "fabric-channels-" });
  const store = SqliteStore.open(join(dir, "store.db"));
  const clock = testClock();
  const live = new Set<string>();
  const channels = new Channels({
    store,
    clock,
    history: 5,
    maxWaitMs: 10_000,
    attemptLive: (owner: ChannelOwner) => live.has(`${owner.task}/${owner.attempt}`),
    onLeaseLost: () => {},
  });
  try {
    await channels.load();
    await body({ channels, clock, live });
  } finally {
    channels.release();
    await store.close();
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("a key's TTL and its attempt's end, whichever way it ends, each become an expire change", async () => {
  await withChannels(async ({ channels, clock, live }) => {
    live.add("t.0/1");
    const start = (await channels.list("c")).revision;
    await channels.set("c", "lease", { value: "v", ttlMs: 1000 }, null);
    await channels.set("c", "me", { value: "v" }, { task: "t.0", attempt: 1 });
    await channels.sweep();
    assert.equal((await channels.list("c")).keys.length, 2, "nothing is due yet");
    clock.t += 1000;
    await channels.sweep();
    assert.deepEqual((await channels.list("c")).keys.map((k) => k.key), ["me"]);
    live.delete("t.0/1"); // failed, cancelled, lost with its agent: the tracker no longer runs it
    await channels.sweep();
    assert.deepEqual((await channels.list("c")).keys, []);
    const { changes } = await channels.watch("c", start, { waitMs: 0, caller: "test" });
    assert.deepEqual(changes.map((c) => [c.kind, c.key]), [
      ["set", "lease"],
      ["set", "me"],
      ["expire", "lease"],
      ["expire", "me"],
    ]);
  });
});

Deno.test("a watch waits for the next change, answers when its caller goes, and refuses compacted history", async () => {
  await withChannels(async ({ channels }) => {
    const start = (await channels.list("c")).revision;
    const waiting = channels.watch("c", start, { waitMs: 5000, caller: "test" });
    await channels.set("other", "k", { value: "elsewhere" }, null);
    await channels.set("c", "k", { value: "here" }, null);
    const answer = await waiting;
    assert.deepEqual(answer.changes.map((c) => c.value), ["here"]);
    assert.equal(answer.revision, answer.changes[0].revision);

    const gone = new AbortController();
    const abandoned = channels.watch("c", answer.revision, { waitMs: 5000, caller: "test", signal: gone.signal });
    gone.abort();
    assert.deepEqual(await abandoned, { changes: [], revision: answer.revision });

    for (let i = 0; i < 6; i++) await channels.set("c", "k", { value: `${i}` }, null);
    const error = await channels.watch("c", start, { waitMs: 0, caller: "test" }).catch((e) => e);
    assert.ok(error instanceof FabricError);
    assert.equal(error.code, "compacted");
    const { compacted } = error.details as { compacted: number };
    const kept = await channels.watch("c", compacted, { waitMs: 0, caller: "test" });
    assert.equal(kept.changes.at(-1)!.value, "5");
  });
});
