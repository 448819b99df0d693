/** Client tokens in memory: roles, expiry and revocation with their reasons, and last uses written at most once a minute. */
import assert from "node:assert/strict";
import { FabricError } from "../protocol/mod.ts";
import type { TokenRecord } from "../store/mod.ts";
import { hashesEqual, hashToken } from "./auth.ts";
import { LAST_USED_WRITE_MS, TokenRegistry } from "./tokens.ts";

function recorder() {
  const written: TokenRecord[] = [];
  return { written, writer: { token: (record: TokenRecord) => void written.push({ ...record }) } };
}

const T0 = 1_700_000_000_000;

Deno.test("a created token is kept only as its hash, and authenticates with its name and role", () => {
  const tokens = new TokenRegistry();
  const { written, writer } = recorder();
  const { token, record } = tokens.create({ name: "ci", role: "submit", expiresAt: null }, T0, writer);
  assert.match(token, /^fabric-submit-[A-Za-z0-9_-]{43}$/);
  assert.equal(record.hash, hashToken(token));
  assert.ok(!JSON.stringify(written).includes(token), "the secret is never written");
  assert.deepEqual(tokens.authenticate(hashToken(token), T0, writer), { name: "ci", role: "submit" });
  assert.equal(tokens.authenticate(hashToken("another"), T0, writer), null);
  assert.doesNotMatch(JSON.stringify(tokens.list(T0)), new RegExp(`${token}|${record.hash}`));
});

Deno.test("an expired or revoked token is refused with which, and its state is listed", () => {
  const tokens = new TokenRegistry();
  const { writer } = recorder();
  const short = tokens.create({ name: "short", role: "read", expiresAt: T0 + 1000 }, T0, writer);
  const gone = tokens.create({ name: "gone", role: "operator", expiresAt: null }, T0, writer);
  tokens.create({ name: "admin", role: "admin", expiresAt: null }, T0, writer);
  assert.ok(tokens.authenticate(hashToken(short.token), T0 + 999, writer));
  assert.throws(
    () => tokens.authenticate(hashToken(short.token), T0 + 1000, writer),
    (error: FabricError) =>
      error.code === "unauthorized" &&
      error.message === `The token "short" expired at ${new Date(T0 + 1000).toISOString()}`,
  );
  tokens.revoke("gone", T0 + 5, writer);
  assert.throws(
    () => tokens.authenticate(hashToken(gone.token), T0 + 6, writer),
    (error: FabricError) =>
      error.code === "unauthorized" &&
      error.message === `The token "gone" was revoked at ${new Date(T0 + 5).toISOString()}`,
  );
  assert.deepEqual(tokens.list(T0 + 2000).map((t) => [t.name, t.state]), [
    ["admin", "active"],
    ["gone", "revoked"],
    ["short", "expired"],
  ]);
});

Deno.test("a token's use is written at most once a minute, however often it is used", () => {
  const tokens = new TokenRegistry();
  const { written, writer } = recorder();
  const { token } = tokens.create({ name: "poller", role: "read", expiresAt: null }, T0, writer);
  written.length = 0;
  for (let i = 0; i < 1000; i++) tokens.authenticate(hashToken(token), T0 + i * 50, writer); // 50 s of polling
  assert.equal(written.length, 0);
  assert.equal(tokens.list(T0 + 50_000)[0].lastUsedAt, new Date(T0 + 999 * 50).toISOString(), "kept in memory");
  tokens.authenticate(hashToken(token), T0 + LAST_USED_WRITE_MS, writer);
  tokens.authenticate(hashToken(token), T0 + LAST_USED_WRITE_MS + 1, writer);
  assert.deepEqual(written.map((r) => r.lastUsedAt), [T0 + LAST_USED_WRITE_MS]);
  // A stopping tracker writes the uses not written yet, once.
  tokens.writeUses(writer);
  tokens.writeUses(writer);
  assert.deepEqual(written.map((r) => r.lastUsedAt), [T0 + LAST_USED_WRITE_MS, T0 + LAST_USED_WRITE_MS + 1]);
});

Deno.test("a name is taken while its token works; the last admin token that works is not revoked", () => {
  const tokens = new TokenRegistry();
  const { writer } = recorder();
  tokens.create({ name: "admin", role: "admin", expiresAt: null }, T0, writer);
  tokens.create({ name: "ci", role: "submit", expiresAt: null }, T0, writer);
  assert.throws(
    () => tokens.create({ name: "ci", role: "read", expiresAt: null }, T0, writer),
    (error: FabricError) =>
      error.code === "conflict" && /A token named "ci" exists; revoke it first/.test(error.message),
  );
  tokens.revoke("ci", T0, writer);
  tokens.create({ name: "ci", role: "read", expiresAt: null }, T0 + 1, writer);
  assert.throws(() => tokens.revoke("nobody", T0, writer), (error: FabricError) => error.code === "not_found");
  assert.throws(
    () => tokens.revoke("admin", T0, writer),
    (error: FabricError) =>
      error.code === "conflict" && /"admin" is the last admin token that works/.test(error.message),
  );
  tokens.create({ name: "second-admin", role: "admin", expiresAt: null }, T0, writer);
  tokens.revoke("admin", T0 + 2, writer);
  assert.deepEqual(tokens.list(T0 + 3).filter((t) => t.state === "active").map((t) => t.name), ["ci", "second-admin"]);
});

Deno.test("tokens read again from the store keep what was changed here and not written yet", () => {
  const tokens = new TokenRegistry();
  const { writer } = recorder();
  const stored = tokens.create({ name: "stored", role: "read", expiresAt: null }, T0, writer);
  const fresh = tokens.create({ name: "fresh", role: "read", expiresAt: null }, T0, writer);
  tokens.create({ name: "admin", role: "admin", expiresAt: null }, T0, writer);
  tokens.revoke("stored", T0 + 1, writer);
  // The store as read before this tracker's last writes landed: "stored" not revoked, "fresh" absent.
  tokens.load([{ ...stored.record, revokedAt: null }]);
  assert.throws(() => tokens.authenticate(hashToken(stored.token), T0 + 2, writer), /was revoked/);
  assert.deepEqual(tokens.authenticate(hashToken(fresh.token), T0 + 2, writer), { name: "fresh", role: "read" });
});

Deno.test("tokens read again from the store keep a later use known in memory", () => {
  const tokens = new TokenRegistry();
  const { writer } = recorder();
  const { token, record } = tokens.create({ name: "ci", role: "submit", expiresAt: null }, T0, writer);
  tokens.authenticate(hashToken(token), T0 + 500, writer);
  tokens.load([{ ...record, lastUsedAt: T0 + 100, revokedAt: T0 + 600 }]);
  const [view] = tokens.list(T0 + 700);
  assert.equal(view.lastUsedAt, new Date(T0 + 500).toISOString());
  assert.equal(view.state, "revoked");
});

Deno.test("hashes compare equal only when every character is", () => {
  const a = hashToken("a");
  assert.equal(hashesEqual(a, hashToken("a")), true);
  assert.equal(hashesEqual(a, hashToken("b")), false);
  assert.equal(hashesEqual(a, a.slice(0, -1) + (a.endsWith("0") ? "1" : "0")), false, "the last character counts");
  assert.equal(hashesEqual(a, a.slice(0, 63)), false);
  assert.equal(hashesEqual("", ""), true);
});
