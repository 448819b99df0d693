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

Deno.test("a follower knows an agent registered after its last read, and made-up credentials cost one read a second", async () => {
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
    await store.write(batch);
    let reads = 0;
    const counted = {
      getMeta: (key: string) => store.getMeta(key),
      loadTokens: () => store.loadTokens(),
      loadAgents: () => (reads++, store.loadAgents()),
    };
    const auth = new FollowerAuth(counted);
    assert.deepEqual(await auth.authenticate("Bearer the-admin"), { kind: "client", name: "admin", role: "admin" });
    assert.deepEqual(await auth.authenticate("Bearer a1.s1"), { kind: "agent", agentId: "a1" });
    assert.equal(reads, 1);
    assert.deepEqual(auth.authenticate("Bearer a1.s1"), { kind: "agent", agentId: "a1" }, "known: at once");
    // Registered through the leader meanwhile: found by the next read.
    const later = emptyBatch();
    later.agents.push(agent("a2", "s2"));
    await store.write(later);
    assert.deepEqual(await auth.authenticate("Bearer a2.s2"), { kind: "agent", agentId: "a2" });
    // A flood of made-up credentials: refused, after at most a read a second.
    const before = reads;
    const started = Date.now();
    const refused = await Promise.allSettled(
      Array.from({ length: 200 }, (_, i) => Promise.resolve().then(() => auth.authenticate(`Bearer x${i}.nope`))),
    );
    assert.ok(refused.every((r) => r.status === "rejected" && /not accepted/.test(String(r.reason))));
    const seconds = (Date.now() - started) / 1000;
    assert.ok(reads - before <= Math.ceil(seconds) + 1, `${reads - before} reads in ${seconds} s`);
    await assert.rejects(Promise.resolve().then(() => auth.authenticate(undefined)), /A token is required/);
  } finally {
    await store.close();
    await Deno.remove(dir, { recursive: true });
  }
});
