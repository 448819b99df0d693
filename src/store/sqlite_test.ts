/** What only the embedded store does, on real files: migrations, WAL. What every store does is in store_contract_test.ts. */
import assert from "node:assert/strict";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { MIGRATIONS } from "./migrations.ts";
import { SqliteStore } from "./sqlite.ts";
import { emptyBatch } from "./store.ts";

async function withDir(body: (dir: string) => Promise<void> | void): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "fabric-store-test-" });
  try {
    await body(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("a new store is migrated to the latest schema version, in WAL mode", () =>
  withDir(async (dir) => {
    const store = SqliteStore.open(join(dir, "f.db"));
    assert.equal(store.schemaVersion, MIGRATIONS.length);
    await store.close();
    const raw = new DatabaseSync(join(dir, "f.db"));
    assert.equal((raw.prepare("PRAGMA journal_mode").get() as { journal_mode: string }).journal_mode, "wal");
    raw.close();
  }));

Deno.test("a store from a newer fabric is refused with a message", () =>
  withDir((dir) => {
    const raw = new DatabaseSync(join(dir, "f.db"));
    raw.exec("PRAGMA user_version = 99");
    raw.close();
    assert.throws(() => SqliteStore.open(join(dir, "f.db")), /schema version 99, newer than this fabric/);
  }));

Deno.test("a store at an older schema version is migrated, and its rows are kept", () =>
  withDir(async (dir) => {
    const raw = new DatabaseSync(join(dir, "f.db"));
    raw.exec(MIGRATIONS[0]);
    raw.exec("PRAGMA user_version = 1");
    raw.exec(`INSERT INTO agents (id, name, labels, slots, version, os, arch, credential_hash, state, registered_at)
      VALUES ('a1', 'old', '{}', 2, '0.1', 'linux', 'x86_64', 'h', 'ready', 1)`);
    raw.close();
    const store = SqliteStore.open(join(dir, "f.db"));
    assert.equal(store.schemaVersion, MIGRATIONS.length);
    const [agent] = await store.loadAgents();
    assert.equal(agent.name, "old");
    assert.equal(agent.weight, 1);
    assert.equal(agent.draining, false);
    assert.deepEqual(agent.capabilities, { sandbox: false, unsandboxed: true, cgroup: null, deno: false, git: false });
    await store.close();
  }));

Deno.test("a job stored before signed jobs reads as unsigned", () =>
  withDir(async (dir) => {
    const raw = new DatabaseSync(join(dir, "f.db"));
    for (const migration of MIGRATIONS.slice(0, 3)) raw.exec(migration);
    raw.exec("PRAGMA user_version = 3");
    raw.exec(`INSERT INTO jobs (id, name, spec, state, cancel_requested, total, counts, created_at, version)
      VALUES ('old', 'j', '{"name":"j","tasks":[]}', 'queued', 0, 0, '{}', 1, 1)`);
    raw.close();
    const store = SqliteStore.open(join(dir, "f.db"));
    assert.equal((await store.getJob("old"))!.signed, null);
    await store.close();
  }));

Deno.test("many small commits keep the WAL bounded, and all of them survive a reopen", () =>
  withDir(async (dir) => {
    const path = join(dir, "f.db");
    const store = SqliteStore.open(path);
    for (let i = 0; i < 1500; i++) {
      const batch = emptyBatch();
      batch.meta.set(`key${i}`, String(i));
      await store.write(batch);
    }
    // Each commit adds at least a 16 KB page to the WAL: 1,500 without a checkpoint would be 24 MB.
    const walBytes = (await Deno.stat(`${path}-wal`)).size;
    assert.ok(walBytes < 12 * 1024 * 1024, `WAL of ${walBytes} bytes`);
    await store.close();
    const reopened = SqliteStore.open(path);
    assert.equal(await reopened.getMeta("key0"), "0");
    assert.equal(await reopened.getMeta("key1499"), "1499");
    await reopened.close();
  }));

Deno.test("the admin token of a store from before named tokens becomes the admin token named admin", () =>
  withDir(async (dir) => {
    const raw = new DatabaseSync(join(dir, "f.db"));
    for (const migration of MIGRATIONS.slice(0, 4)) raw.exec(migration);
    raw.exec("PRAGMA user_version = 4");
    raw.exec(`INSERT INTO meta (key, value) VALUES ('admin_token_sha256', 'adminhash'), ('join_token_sha256', 'j')`);
    raw.exec(`INSERT INTO jobs (id, name, spec, state, cancel_requested, total, counts, created_at, version)
      VALUES ('old', 'j', '{"name":"j","tasks":[]}', 'queued', 0, 0, '{}', 1, 1)`);
    raw.exec(`INSERT INTO agents (id, name, labels, slots, version, os, arch, credential_hash, state, registered_at)
      VALUES ('a1', 'old', '{}', 2, '0.1', 'linux', 'x86_64', 'h', 'ready', 1)`);
    raw.close();
    const before = Date.now();
    const store = SqliteStore.open(join(dir, "f.db"));
    const [admin, ...others] = await store.loadTokens();
    assert.deepEqual(others, []);
    assert.deepEqual({ ...admin, createdAt: 0 }, {
      hash: "adminhash",
      name: "admin",
      role: "admin",
      createdAt: 0,
      expiresAt: null,
      revokedAt: null,
      lastUsedAt: null,
    });
    assert.ok(admin.createdAt >= before - 1000 && admin.createdAt <= Date.now() + 1000, "created when upgraded");
    assert.equal(await store.getMeta("admin_token_sha256"), null, "one place holds it");
    assert.equal(await store.getMeta("join_token_sha256"), "j");
    assert.equal((await store.getJob("old"))!.submittedBy, null);
    assert.equal((await store.loadAgents())[0].admission, "approved");
    await store.close();
  }));
