/** fabric token, the exit codes of refused credentials and actions, and reset-admin-token, through the CLI. */
import assert from "node:assert/strict";
import { join } from "node:path";
import { Cluster } from "../testing/cluster.ts";
import { waitFor } from "../testing/process.ts";
import { RawApi, registration } from "../testing/raw_api.ts";

const WAITS =
  "name: waits\ntasks:\n  - name: t\n    run: 'true'\n    constraints: [{ label: nowhere, exists: true }]\n";

Deno.test("token create prints the token alone; its role decides what it may do, and a refusal is exit 6 naming the role", async () => {
  const cluster = await Cluster.start();
  try {
    const created = await cluster.cli(["token", "create", "--role", "submit", "--name", "ci"]);
    assert.equal(created.code, 0, created.stderr);
    assert.match(created.stdout, /^fabric-submit-[A-Za-z0-9_-]{43}\n$/, "T=$(fabric token create ...) works");
    assert.match(created.stderr, /token ci created with the submit role/);
    const ci = { env: { FABRIC_TOKEN: created.stdout.trim() } };

    const own = (await cluster.cli(["submit", await cluster.writeFile("waits.yaml", WAITS)], ci)).stdout.trim();
    const status = await cluster.cli(["status", own], ci);
    assert.equal(status.code, 0, status.stderr);
    assert.match(status.stdout, /^Job \S+ "waits": queued, created \S+ ago by ci$/m);
    const admins = await cluster.submit(WAITS);

    const drain = await cluster.cli(["agents", "drain", "nobody"], ci);
    assert.equal(drain.code, 6, drain.stderr);
    assert.equal(
      drain.stderr.trim(),
      'fabric agents: Draining an agent needs the operator role; this token ("ci") has the submit role',
    );
    const others = await cluster.cli(["cancel", admins, "--no-wait"], ci);
    assert.equal(others.code, 6, others.stderr);
    assert.match(others.stderr, /Cancelling another token's job needs the operator role; this token \("ci"\) has/);
    assert.equal((await cluster.cli(["cancel", own, "--no-wait"], ci)).code, 0, "its own job");
    const tokens = await cluster.cli(["token", "revoke", "admin"], ci);
    assert.equal(tokens.code, 6);
    assert.match(tokens.stderr, /Revoking a token needs the admin role/);
    assert.equal((await cluster.cli(["token", "list"], ci)).code, 0, "every GET is a read");

    const reader = (await cluster.cli(["token", "create", "--role", "read", "--name", "dash", "--expires", "30d"]))
      .stdout.trim();
    const readOnly = await cluster.cli(["submit", await cluster.writeFile("w2.yaml", WAITS)], {
      env: { FABRIC_TOKEN: reader },
    });
    assert.equal(readOnly.code, 6);
    assert.match(readOnly.stderr, /Submitting a job needs the submit role; this token \("dash"\) has the read role/);
    assert.equal((await cluster.cli(["status"], { env: { FABRIC_TOKEN: reader } })).code, 0);
  } finally {
    await cluster.stop();
  }
});

Deno.test("token list shows names, roles, states and uses but never a secret; revoked and expired tokens are exit 3 saying which", async () => {
  const cluster = await Cluster.start();
  try {
    const ci = (await cluster.cli(["token", "create", "--role", "submit", "--name", "ci"])).stdout.trim();
    const short = (await cluster.cli(["token", "create", "--role", "read", "--name", "short", "--expires", "1h"]))
      .stdout.trim();
    assert.equal((await cluster.cli(["status"], { env: { FABRIC_TOKEN: ci } })).code, 0);

    const listed = await cluster.cli(["token", "list", "--json"]);
    assert.equal(listed.code, 0, listed.stderr);
    for (const secret of [ci, short, cluster.adminToken]) assert.ok(!listed.stdout.includes(secret));
    for (const file of ["fabric.db", "fabric.db-wal"]) {
      const bytes = await Deno.readFile(join(cluster.trackerDir, file)).catch(() => new Uint8Array());
      assert.ok(!new TextDecoder().decode(bytes).includes(ci), `${file} holds hashes only`);
    }
    const views = JSON.parse(listed.stdout) as Array<Record<string, unknown>>;
    assert.deepEqual(views.map((v) => [v.name, v.role, v.state]), [
      ["admin", "admin", "active"],
      ["ci", "submit", "active"],
      ["short", "read", "active"],
    ]);
    assert.ok(Date.parse(views[2].expiresAt as string) > Date.now() + 3_500_000, "expires in an hour");
    assert.deepEqual(Object.keys(views[1]).sort(), [
      "createdAt",
      "expiresAt",
      "lastUsedAt",
      "name",
      "revokedAt",
      "role",
      "state",
    ]);
    assert.ok(views[1].lastUsedAt !== null, "its use is known");
    assert.equal(views[1].expiresAt, null);
    const table = await cluster.cli(["token", "list"]);
    assert.match(table.stdout, /^NAME\s+ROLE\s+STATE\s+CREATED\s+EXPIRES\s+LAST USED\n/);
    assert.match(table.stdout, /\nci\s+submit\s+active\s+\S+ ago\s+never\s+\S+ ago\n/);

    const revoked = await cluster.cli(["token", "revoke", "ci"]);
    assert.equal(revoked.code, 0, revoked.stderr);
    assert.equal(revoked.stdout.trim(), "token ci revoked");
    const afterRevoke = await cluster.cli(["status"], { env: { FABRIC_TOKEN: ci } });
    assert.equal(afterRevoke.code, 3);
    assert.match(afterRevoke.stderr, /^fabric status: The token "ci" was revoked at \S+Z$/m);
    assert.equal((await cluster.cli(["token", "revoke", "short"])).code, 0);
    const brief = (await cluster.cli(["token", "create", "--role", "read", "--name", "brief", "--expires", "1s"]))
      .stdout.trim();
    const expiresAt = Date.now() + 1000;
    await waitFor("the short-lived token to expire", () => Date.now() > expiresAt + 50);
    const afterExpiry = await cluster.cli(["status"], { env: { FABRIC_TOKEN: brief } });
    assert.equal(afterExpiry.code, 3);
    assert.match(afterExpiry.stderr, /The token "brief" expired at \S+Z/);
    assert.deepEqual(
      (await cluster.json<Array<{ name: string; state: string }>>(["token", "list"])).map((t) =>
        `${t.name} ${t.state}`
      ),
      ["admin active", "brief expired", "ci revoked", "short revoked"],
    );

    // A mistake is exit 2 (flags) or 1 (the tracker's refusal), with a message, and changes nothing.
    const mistakes: Array<[string[], number, RegExp]> = [
      [["token", "create", "--role", "boss", "--name", "x"], 2, /--role takes one of read, submit, operator, admin/],
      [["token", "create", "--role", "read", "--name", "a b"], 2, /--name takes 1 to 64 letters/],
      [["token", "create", "--role", "read"], 2, /--name takes .* got none/],
      [["token", "create", "--role", "read", "--name", "x", "--expires", "4000d"], 2, /at most 3650d/],
      [["token", "list", "--role", "read"], 2, /fabric token list takes no --role/],
      [["token", "revoke"], 2, /takes one token name/],
      [["token", "frob"], 2, /Unknown token subcommand "frob"/],
      [["token", "create", "--role", "read", "--name", "admin"], 1, /A token named "admin" exists/],
      [["token", "revoke", "admin"], 1, /"admin" is the last admin token that works/],
      [["token", "revoke", "nobody"], 1, /No token named "nobody"/],
    ];
    for (const [args, code, message] of mistakes) {
      const result = await cluster.cli(args);
      assert.equal(result.code, code, `${args.join(" ")}: ${result.stderr}`);
      assert.match(result.stderr, message);
      assert.doesNotMatch(result.stderr, /at .*\.ts:\d+/);
    }
    assert.equal((await cluster.json<unknown[]>(["token", "list"])).length, 4);
  } finally {
    await cluster.stop();
  }
});

Deno.test("rotate-join prints a new join token and rewrites join.token; the old one is refused, agents that joined go on", async () => {
  const cluster = await Cluster.start({ agents: [{ name: "before" }] });
  const api = await RawApi.of(cluster);
  try {
    const rotated = await cluster.cli(["token", "rotate-join"]);
    assert.equal(rotated.code, 0, rotated.stderr);
    const token = rotated.stdout.trim();
    assert.match(rotated.stdout, /^fabric-join-\S+\n$/);
    assert.notEqual(token, cluster.joinToken);
    assert.equal((await Deno.readTextFile(join(cluster.trackerDir, "join.token"))).trim(), token);
    assert.equal((await Deno.stat(join(cluster.trackerDir, "join.token"))).mode! & 0o777, 0o600);
    const old = await api.request("POST", "/v1/agents/register", cluster.joinToken, registration("late"));
    assert.equal(old.status, 401, old.text);
    cluster.startAgent({ name: "after" }); // with the file, which holds the new token
    await cluster.waitForAgents(["before", "after"]);
  } finally {
    api.close();
    await cluster.stop();
  }
});

Deno.test("reset-admin-token replaces a lost admin token, with the tracker running or not", async () => {
  const cluster = await Cluster.start();
  try {
    const first = cluster.adminToken;
    const reset = await cluster.cli(["tracker", "reset-admin-token", "--data-dir", cluster.trackerDir]);
    assert.equal(reset.code, 0, reset.stderr);
    const second = reset.stdout.trim();
    assert.match(reset.stdout, /^fabric-admin-\S+\n$/);
    assert.match(reset.stderr, /the running tracker \(pid \d+\) accepts it and refuses the old one/);
    assert.equal((await Deno.readTextFile(join(cluster.trackerDir, "admin.token"))).trim(), second);
    assert.equal((await Deno.stat(join(cluster.trackerDir, "admin.token"))).mode! & 0o777, 0o600);
    const old = await cluster.cli(["status"], { env: { FABRIC_TOKEN: first } });
    assert.equal(old.code, 3, "the old admin token is refused at once");
    assert.match(old.stderr, /The token "admin" was revoked at/);
    assert.equal((await cluster.cli(["token", "list"], { env: { FABRIC_TOKEN: second } })).code, 0);

    await cluster.tracker.stop();
    const offline = await cluster.cli(["tracker", "reset-admin-token", "--data-dir", cluster.trackerDir]);
    assert.equal(offline.code, 0, offline.stderr);
    assert.match(offline.stderr, /no tracker runs on this directory/);
    await cluster.startTracker();
    const third = offline.stdout.trim();
    assert.equal(cluster.adminToken, third);
    assert.equal((await cluster.cli(["status"], { env: { FABRIC_TOKEN: third } })).code, 0);
    assert.equal((await cluster.cli(["status"], { env: { FABRIC_TOKEN: second } })).code, 3);

    const nowhere = await cluster.cli(["tracker", "reset-admin-token", "--data-dir", join(cluster.root, "none")]);
    assert.equal(nowhere.code, 1);
    assert.match(nowhere.stderr, /No tracker's data in ".*none" \(no fabric\.db there\)/);
  } finally {
    await cluster.stop();
  }
});
