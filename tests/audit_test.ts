/**
 * The audit trail against a real tracker and agent: what is recorded for each change, by whom (never
 * what a request says about itself), refusals and bad requests included, strangers only counted; what
 * `fabric audit` shows and refuses; and that no secret's value and no token is ever in the database.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import type { AuditEntry } from "../src/protocol/mod.ts";
import { Cluster } from "../testing/cluster.ts";
import { lacks } from "../testing/machine.ts";
import { RawApi } from "../testing/raw_api.ts";

async function auditJson(cluster: Cluster, args: string[] = [], token?: string): Promise<AuditEntry[]> {
  const result = await cluster.cli(["audit", "--json", "--limit", "1000", ...args], {
    env: token ? { FABRIC_TOKEN: token } : {},
  });
  assert.equal(result.code, 0, result.stderr);
  return JSON.parse(result.stdout);
}

async function token(cluster: Cluster, role: string, name: string): Promise<string> {
  const result = await cluster.cli(["token", "create", "--role", role, "--name", name]);
  assert.equal(result.code, 0, result.stderr);
  return result.stdout.trim();
}

Deno.test({
  name: "the audit trail records who changed what, from where, and how it ended; no request field forges it",
  ignore: lacks("bwrap"),
  fn: async () => {
    const cluster = await Cluster.start({ agents: [{ name: "a1" }] });
    const api = await RawApi.of(cluster);
    try {
      const ci = await token(cluster, "submit", "ci");
      const viewer = await token(cluster, "read", "viewer");

      // A submit token's job, with every field a forger might try: the body's extra keys and the headers
      // that name a caller or an address elsewhere.
      const forged = await api.request(
        "POST",
        "/v1/jobs",
        ci,
        { spec: { name: "forged", tasks: [{ name: "t", run: "true" }] }, actor: "admin", submittedBy: "admin" },
        10_000,
        undefined,
        {
          "x-fabric-peer": "6.6.6.6",
          "x-forwarded-for": "6.6.6.6",
          "x-fabric-actor": "admin",
          "x-fabric-forwarded-by": "tracker-x",
          "x-fabric-forwarded-for": "7.7.7.7",
        },
      );
      assert.equal(forged.status, 201, forged.text);
      const jobId = (forged.json as { jobId: string }).jobId;

      // Refused (403) and bad (400) requests are recorded; a stranger's (401) only counted.
      assert.equal((await api.request("POST", `/v1/agents/a1/drain`, viewer, { graceMs: 1000 })).status, 403);
      assert.equal((await api.request("POST", "/v1/jobs", ci, { spec: { tasks: "nope" } })).status, 400);
      const stranger = "fabric-not-a-token-" + crypto.randomUUID();
      for (let i = 0; i < 5; i++) {
        assert.equal((await api.request("POST", "/v1/jobs", stranger, { spec: {} })).status, 401);
      }
      // Names far too long for an entry: cut, saying so.
      const long = "x".repeat(5000);
      assert.equal((await api.request("POST", `/v1/agents/${long}/drain`, cluster.adminToken, {})).status, 404);
      const longJob = await api.request("POST", "/v1/jobs", ci, { spec: { name: long, tasks: [] } });
      assert.equal(longJob.status, 400);

      const entries = await auditJson(cluster);
      const submit = entries.find((e) => e.action === "job.submit" && e.target === jobId);
      assert.ok(submit, JSON.stringify(entries, null, 1));
      assert.equal(submit.actor, "ci");
      assert.equal(submit.role, "submit");
      assert.equal(submit.outcome, "ok");
      assert.equal(submit.detail, 'name "forged"');
      // The connection's own address is kept last: a claim a client adds only stands beside it.
      assert.match(submit.address!, /(^| via )(127\.0\.0\.1|::ffff:127\.0\.0\.1)$/);
      assert.ok(!JSON.stringify(entries).includes("6.6.6.6"));
      assert.equal((await cluster.json<{ submittedBy: string }>(["status", jobId, "--json"])).submittedBy, "ci");

      const refused = entries.find((e) => e.action === "agent.drain" && e.actor === "viewer");
      assert.deepEqual([refused?.target, refused?.role, refused?.outcome], ["a1", "read", "forbidden"]);
      assert.ok(entries.some((e) => e.action === "job.submit" && e.actor === "ci" && e.outcome === "invalid_job"));
      assert.ok(!entries.some((e) => e.actor.includes(stranger.slice(0, 20))));
      const metrics = await api.request("GET", "/metrics", viewer);
      assert.ok(Number(metrics.text.match(/^fabric_unauthenticated_requests_total (\d+)/m)?.[1]) >= 5);

      const cut = entries.find((e) => e.action === "agent.drain" && e.outcome === "not_found")!;
      assert.ok(cut.target!.length < 260, `${cut.target!.length} characters kept`);
      assert.match(cut.target!, /^x{200}… \[cut: 5000 characters\]$/);
      const cutJob = entries.find((e) => e.action === "job.submit" && e.detail?.includes("[cut:"))!;
      assert.ok(cutJob.detail!.length < 260);

      // A secret set, used by a task and deleted, a token made, used and revoked: the entries name them,
      // and neither value is anywhere in the database's files (the WAL's too).
      const value = `audit-s3cr3t-${crypto.randomUUID()}`;
      const set = await cluster.cli(["secret", "set", "AUDITED"], { stdin: `${value}\n` });
      assert.equal(set.code, 0, set.stderr);
      const used = await cluster.submit(
        "name: uses-secret\nsecrets: [AUDITED]\ntasks:\n  - {name: t, run: 'test -n \"$AUDITED\"'}\n",
      );
      assert.equal((await cluster.waitForJob(used)).state, "succeeded", cluster.describe());
      const temp = await token(cluster, "operator", "temp");
      assert.equal((await cluster.cli(["cancel", jobId], { env: { FABRIC_TOKEN: temp } })).code, 0);
      assert.equal((await cluster.cli(["token", "revoke", "temp"])).code, 0);
      assert.equal((await cluster.cli(["secret", "delete", "AUDITED"])).code, 0);
      const after = await auditJson(cluster);
      const did = (action: string) => after.filter((e) => e.action === action).map((e) => `${e.actor}:${e.target}`);
      assert.deepEqual(did("secret.set"), ["admin:AUDITED"]);
      assert.deepEqual(did("secret.delete"), ["admin:AUDITED"]);
      assert.deepEqual(did("token.revoke"), ["admin:temp"]);
      assert.deepEqual(did("job.cancel"), [`temp:${jobId}`]);
      assert.deepEqual(did("token.create"), ["admin:temp", "admin:viewer", "admin:ci"]);
      assert.equal(after.find((e) => e.action === "token.create" && e.target === "temp")?.detail, "role operator");

      await cluster.tracker.stop("SIGTERM", 5000);
      const files = [...Deno.readDirSync(cluster.trackerDir)].filter((f) => f.name.startsWith("fabric.db"));
      assert.ok(files.length >= 1);
      for (const file of files) {
        const bytes = new TextDecoder("latin1").decode(Deno.readFileSync(join(cluster.trackerDir, file.name)));
        assert.ok(bytes.includes("AUDITED"), `${file.name} holds the audit trail`);
        for (const [what, secret] of [["the secret's value", value], ["a token", temp], ["a token", ci]]) {
          assert.ok(!bytes.includes(secret), `${file.name} holds ${what}`);
        }
      }
    } finally {
      api.close();
      await cluster.stop();
    }
  },
});

Deno.test({
  name: "fabric audit filters and pages; a viewer or submitter token cannot read it; bad filters say what is wrong",
  fn: async () => {
    const cluster = await Cluster.start();
    const api = await RawApi.of(cluster);
    try {
      const ci = await token(cluster, "submit", "ci");
      const viewer = await token(cluster, "read", "viewer");
      for (let i = 0; i < 3; i++) assert.notEqual((await cluster.cli(["agents", "resume", `nobody-${i}`])).code, 0);

      for (const [who, secret] of [["viewer", viewer], ["ci", ci]]) {
        const answer = await api.request("GET", "/v1/audit", secret);
        assert.equal(answer.status, 403, `${who}: ${answer.text}`);
        assert.match(answer.text, /Reading the audit trail needs the admin role/);
        const cli = await cluster.cli(["audit"], { env: { FABRIC_TOKEN: secret } });
        assert.equal(cli.code, 6, cli.stderr);
      }

      const all = await auditJson(cluster);
      assert.deepEqual(all.map((e) => e.action), [
        "agent.resume",
        "agent.resume",
        "agent.resume",
        "token.create",
        "token.create",
      ]);
      assert.ok(all.every((e, i) => i === 0 || all[i - 1].id > e.id), "newest first");
      assert.deepEqual((await auditJson(cluster, ["--action", "token."])).map((e) => e.target), ["viewer", "ci"]);
      assert.deepEqual(await auditJson(cluster, ["--actor", "viewer"]), []);
      assert.equal((await auditJson(cluster, ["--actor", "admin", "--since", "1h"])).length, 5);
      assert.deepEqual(await auditJson(cluster, ["--since", "2099-01-01"]), []);
      // Pages of one entry, followed to the end: the same entries.
      const paged = await cluster.cli(["audit", "--json", "--limit", "4"]);
      assert.deepEqual(JSON.parse(paged.stdout), all.slice(0, 4));
      const page = await api.request("GET", `/v1/audit?limit=1&before=${all[1].id}`, cluster.adminToken);
      assert.deepEqual((page.json as { entries: AuditEntry[] }).entries, [all[2]]);

      const text = await cluster.cli(["audit", "--action", "agent."]);
      assert.equal(text.code, 0, text.stderr);
      assert.match(text.stdout, /^TIME +ACTOR +ACTION +TARGET +OUTCOME +FROM +DETAIL\n/);
      assert.match(text.stdout, /admin \(admin\) +agent\.resume +nobody-2 +not_found +/);

      for (
        const [args, message] of [
          [["--since", "soon"], /--since takes a duration .* got "soon"/],
          [["--since", "2026-02-31x"], /--since takes a duration/],
          [["--limit", "0"], /--limit must be a whole number from 1 to 100000, got "0"/],
          [["--action", "x".repeat(300)], /--action takes 1 to 200 characters, got 300/],
          [["extra"], /takes no arguments/],
        ] as const
      ) {
        const bad = await cluster.cli(["audit", ...args]);
        assert.equal(bad.code, 2, `${args.join(" ")}: ${bad.stderr}`);
        assert.match(bad.stderr, message);
      }
      const badQuery = await api.request("GET", "/v1/audit?limit=5000", cluster.adminToken);
      assert.equal(badQuery.status, 400);
      assert.match(badQuery.text, /limit.* must be a whole number from 1 to 1000, got/);
    } finally {
      api.close();
      await cluster.stop();
    }
  },
});
