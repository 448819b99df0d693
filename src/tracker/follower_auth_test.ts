import assert from "node:assert/strict";
import { join } from "node:path";
import { type AgentRecord, emptyBatch, SqliteStore } from "../store/mod.ts";
import { hashToken } from "./auth.ts";
import { FollowerAuth } from "./follower_auth.ts";

function agent(id: string, secret: string): AgentRecord {
  return {
    id,
    name: id,
    labels: {},
    slots: 1,
    version: "0",
    os: "linux",
    arch: "x86_64",
    credentialHash: hashToken(secret),
    state: "ready",
    registeredAt: 1,
    lastHeartbeat: null,
    load: null,
    weight: 1,
    capabilities: { sandbox: true, unsandboxed: false, cgroup: null, deno: false, git: false },
    resources: { cpu: 1, memory: 1, disk: 1 },
    draining: false,
    drainDeadline: null,
    admission: "approved",
  };
}

Deno.test("a follower knows an agent registered after it started, by looking that one agent up; made-up credentials never make it read the agents whole", async () => {
  const dir = await Deno.makeTempDir({ prefix: "fabric-follower-auth-" });
  const store = SqliteStore.open(join(dir, "fabric.db"));
  try {
    const batch = emptyBatch();
    batch.tokens.push({
      hash: hashToken("the-admin"),
      name: "admin",
      role: "admin",
      createdAt: 1,
      expiresAt: null,
      revokedAt: null,
      lastUsedAt: null,
    });
    batch.meta.set("join_token_sha256", hashToken("the-join"));
    batch.agents.push(agent("a1", "s1"));
    // A fleet: every whole read of the agents would cost their rows.
    for (let i = 0; i < 2000; i++) batch.agents.push(agent(`fleet${i}`, `secret${i}`));
    await store.write(batch);
    /** What the follower read of the agents: whole reads, lookups, and the rows either returned. */
    const reads = { whole: 0, lookups: 0, rows: 0, tokens: 0 };
    const counted = {
      getMeta: (key: string) => store.getMeta(key),
      loadTokens: () => (reads.tokens++, store.loadTokens()),
      loadAgents: async () => {
        reads.whole++;
        const rows = await store.loadAgents();
        reads.rows += rows.length;
        return rows;
      },
      getAgents: async (ids: readonly string[]) => {
        reads.lookups++;
        const rows = await store.getAgents(ids);
        reads.rows += rows.length;
        return rows;
      },
    };
    const auth = new FollowerAuth(counted);
    assert.deepEqual(await auth.authenticate("Bearer the-admin"), { kind: "client", name: "admin", role: "admin" });
    assert.deepEqual(await auth.authenticate("Bearer a1.s1"), { kind: "agent", agentId: "a1" });
    assert.deepEqual(reads, { whole: 0, lookups: 1, rows: 1, tokens: 1 }, "a1's own row, looked up");
    assert.deepEqual(auth.authenticate("Bearer a1.s1"), { kind: "agent", agentId: "a1" }, "known: at once");
    // Registered through the leader meanwhile: found by looking it up.
    const later = emptyBatch();
    later.agents.push(agent("a2", "s2"));
    await store.write(later);
    assert.deepEqual(await auth.authenticate("Bearer a2.s2"), { kind: "agent", agentId: "a2" });
    // A known agent's credential with the wrong secret is refused, after reading that agent's row again.
    await assert.rejects(Promise.resolve().then(() => auth.authenticate("Bearer a2.wrong")), /not accepted/);

    // A flood of made-up credentials, agents' and tokens', over more than a second: all refused, and the
    // agents are never read whole; each lookup takes many of them, and finds no row.
    const before = { ...reads };
    const started = Date.now();
    for (let round = 0; round < 4; round++) {
      const refused = await Promise.allSettled(
        Array.from(
          { length: 150 },
          (_, i) =>
            Promise.resolve().then(() =>
              auth.authenticate(i % 3 === 0 ? `Bearer fabric-made-up-${round}-${i}` : `Bearer x${round}-${i}.nope`)
            ),
        ),
      );
      assert.ok(refused.every((r) => r.status === "rejected" && /not accepted/.test(String(r.reason))));
      await new Promise((resolve) => setTimeout(resolve, 300));
    }
    const seconds = (Date.now() - started) / 1000;
    assert.equal(reads.whole, 0, "the agents are never read whole");
    assert.equal(reads.rows - before.rows, 0, "no agent's row read for a credential of no agent");
    assert.ok(reads.lookups - before.lookups <= 4 * 2 + 2, `${reads.lookups - before.lookups} lookups for 400 ids`);
    assert.ok(reads.tokens - before.tokens <= Math.ceil(seconds) + 1, `${reads.tokens - before.tokens} token reads`);
    await assert.rejects(Promise.resolve().then(() => auth.authenticate(undefined)), /A token is required/);
  } finally {
    await store.close();
    await Deno.remove(dir, { recursive: true });
  }
});
