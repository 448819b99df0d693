/** Secrets in the tracker: sealed at rest, checked at submit, opened only into an assignment. */
import assert from "node:assert/strict";
import { join } from "node:path";
import { FabricError } from "../protocol/mod.ts";
import { SqliteStore } from "../store/mod.ts";
import { getJob } from "./queries.ts";
import { createRoutes } from "./routes.ts";
import { loadSecretKey, SecretKey } from "./secret_key.ts";
import { mayUseSecret, submitterOf } from "./secret_policy.ts";
import { Tracker } from "./tracker.ts";

const AGENT = {
  labels: {},
  version: "test",
  os: "linux",
  arch: "x86_64",
  slots: 2,
  capabilities: { sandbox: true, unsandboxed: false, cgroup: "v1" as const, deno: true, git: true },
  resources: { cpu: 4, memory: 2 ** 33, disk: 2 ** 36 },
};
const VALUE = "tok-3f9a8b7c6d5e";

interface Setup {
  dir: string;
  /** Another tracker on the same store (the one before it closed first), with this key. */
  reopen(key: SecretKey): Promise<Tracker>;
  close(tracker: Tracker): Promise<void>;
}

async function withTracker(fn: (tracker: Tracker, setup: Setup) => Promise<void>) {
  const dir = await Deno.makeTempDir({ prefix: "fabric-secrets-test-" });
  const open = new Set<Tracker>();
  const setup: Setup = {
    dir,
    async reopen(key) {
      const tracker = await Tracker.open({ store: SqliteStore.open(join(dir, "fabric.db")), secretsKey: key });
      open.add(tracker);
      return tracker;
    },
    async close(tracker) {
      open.delete(tracker);
      await tracker.close();
    },
  };
  try {
    await fn(await setup.reopen((await loadSecretKey(dir)).key), setup);
  } finally {
    for (const tracker of open) await tracker.close();
    await Deno.remove(dir, { recursive: true });
  }
}

async function refusal(promise: Promise<unknown>): Promise<FabricError> {
  const error = await promise.then(() => null, (e) => e);
  assert.ok(error instanceof FabricError, `refused: ${error}`);
  return error;
}

Deno.test("secrets.key is made once, 0600, and a file that is not a key is refused, never replaced", async () => {
  const dir = await Deno.makeTempDir({ prefix: "fabric-secrets-key-" });
  try {
    const first = await loadSecretKey(dir);
    assert.equal(first.created, true);
    const path = join(dir, "secrets.key");
    assert.equal(Deno.statSync(path).mode! & 0o777, 0o600);
    const again = await loadSecretKey(dir);
    assert.equal(again.created, false);
    assert.equal(again.key.id, first.key.id);
    await Deno.writeTextFile(path, "not a key\n");
    await assert.rejects(loadSecretKey(dir), /Cannot use the secrets key ".*secrets\.key": it does not hold a key/);
    assert.equal(await Deno.readTextFile(path), "not a key\n");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a sealed value opens only with its key and under its own name", () => {
  const key = SecretKey.random();
  const sealed = key.seal("A", VALUE);
  assert.equal(key.open("A", sealed), VALUE);
  assert.equal(key.open("B", sealed), null, "moved to another name");
  assert.equal(SecretKey.random().open("A", sealed), null, "another key");
  const flipped = atob(sealed.sealed).split("").map((c, i) => i === 0 ? String.fromCharCode(c.charCodeAt(0) ^ 1) : c);
  assert.equal(key.open("A", { ...sealed, sealed: btoa(flipped.join("")) }), null, "altered");
  assert.notEqual(key.seal("A", VALUE).nonce, sealed.nonce, "a nonce per value");
});

Deno.test("a secret is stored sealed: its value is nowhere in the database file", async () => {
  await withTracker(async (tracker, { dir, close }) => {
    const set = await tracker.secrets.set("DEPLOY_TOKEN", { value: VALUE });
    assert.equal(set.created, true);
    assert.deepEqual(set.allow, ["role:operator"]);
    await close(tracker);
    for (const file of ["fabric.db", "fabric.db-wal"]) {
      const bytes = await Deno.readFile(join(dir, file)).catch(() => new Uint8Array());
      assert.ok(!new TextDecoder("latin1").decode(bytes).includes(VALUE), file);
    }
  });
});

Deno.test("a task is given its job's secrets in its assignment alone; a job without secrets is sent as before", async () => {
  await withTracker(async (tracker) => {
    await tracker.secrets.set("DEPLOY_TOKEN", { value: VALUE });
    await tracker.secrets.set("OTHER", { value: "other-value", allow: ["role:submit"] });
    const agent = (await tracker.registerAgent({ name: "a", ...AGENT, slots: 3 })).agentId;
    const { jobId } = await tracker.submitJob({
      name: "deploy",
      secrets: ["DEPLOY_TOKEN"],
      tasks: [{ name: "push", run: "./push", secrets: { TOKEN_B: "OTHER" } }, { name: "plain", run: "true" }],
    });
    const { assignments } = await tracker.claim(agent, { holding: [], waitMs: 0 });
    const push = assignments.find((a) => a.name === "push")!;
    assert.deepEqual(push.secrets, { DEPLOY_TOKEN: VALUE, TOKEN_B: "other-value" });
    assert.equal(push.env.DEPLOY_TOKEN, undefined);
    const plain = assignments.find((a) => a.name === "plain")!;
    assert.deepEqual(plain.secrets, { DEPLOY_TOKEN: VALUE });
    const detail = JSON.stringify(await getJob(tracker, jobId));
    assert.ok(!detail.includes(VALUE) && !detail.includes("other-value"));
    const stored = JSON.stringify(await tracker.store.getJob(jobId));
    assert.ok(!stored.includes(VALUE) && stored.includes('"secrets":{"DEPLOY_TOKEN":"DEPLOY_TOKEN"}'), stored);
    await tracker.submitJob({ name: "none", tasks: [{ name: "t", run: "true" }] });
    const holding = assignments.map((a) => ({ taskId: a.taskId, attempt: a.attempt }));
    const [none] = (await tracker.claim(agent, { holding, waitMs: 0 })).assignments;
    assert.equal(none.jobName, "none");
    assert.ok(!("secrets" in none));
  });
});

Deno.test("a submission naming a secret that does not exist is refused, naming the field; nothing is stored", async () => {
  await withTracker(async (tracker) => {
    await tracker.secrets.set("KNOWN", { value: VALUE });
    const error = await refusal(tracker.submitJob({
      name: "j",
      secrets: ["KNOWN"],
      tasks: [{ name: "a", run: "x" }, { name: "b", run: "x", secrets: { V: "MISSING" } }],
    }));
    assert.equal(error.code, "invalid_job");
    assert.equal(
      error.message,
      'The job is invalid: "tasks[1].secrets" names the secret "MISSING", which does not exist (see fabric secret list)',
    );
    assert.equal(tracker.state.jobs.size, 0);
    assert.equal((await tracker.store.listJobs({ limit: 10 })).length, 0);
  });
});

Deno.test("a deleted secret: new submissions are refused, and a task placed after the delete fails without it", async () => {
  await withTracker(async (tracker) => {
    await tracker.secrets.set("GONE", { value: VALUE });
    const { jobId } = await tracker.submitJob({ name: "j", tasks: [{ name: "t", run: "x", secrets: ["GONE"] }] });
    await tracker.secrets.delete("GONE");
    assert.equal((await refusal(tracker.secrets.delete("GONE"))).code, "not_found");
    const again = await refusal(tracker.submitJob({ name: "j", tasks: [{ name: "t", run: "x", secrets: ["GONE"] }] }));
    assert.equal(again.code, "invalid_job");
    const agent = (await tracker.registerAgent({ name: "a", ...AGENT })).agentId;
    const { assignments } = await tracker.claim(agent, { holding: [], waitMs: 0 });
    assert.equal(assignments.length, 0, "nothing of the task goes to the agent");
    await tracker.flush();
    const task = (await getJob(tracker, jobId)).tasks[0];
    assert.equal(task.state, "failed");
    assert.match(task.reason!, /^failed to start: the secret "GONE" no longer exists/);
  });
});

Deno.test("secrets sealed with another key are listed as unusable, refused at submit, and usable once set again", async () => {
  await withTracker(async (tracker, { reopen, close }) => {
    await tracker.secrets.set("S", { value: VALUE, allow: ["token:ci"] });
    await close(tracker);
    const other = await reopen(SecretKey.random());
    const [view] = other.secrets.list();
    assert.equal(view.usable, false);
    assert.deepEqual(view.allow, ["token:ci"]);
    const error = await refusal(other.submitJob({ name: "j", tasks: [{ name: "t", run: "x", secrets: ["S"] }] }));
    assert.equal(error.code, "conflict");
    assert.match(error.message, /sealed with another secrets\.key/);
    await other.secrets.set("S", { value: VALUE });
    assert.equal(other.secrets.list()[0].usable, true);
    assert.deepEqual(other.secrets.list()[0].allow, ["token:ci"], "a new value keeps who may use it");
  });
});

Deno.test("who may use a secret: roles at or above the rule's, named tokens, and the admin always", () => {
  const rule = ["role:operator", "token:ci"];
  assert.equal(mayUseSecret(rule, { name: "admin", role: "admin" }), true);
  assert.equal(mayUseSecret(rule, { name: "ops", role: "operator" }), true);
  assert.equal(mayUseSecret(rule, { name: "ci", role: "submit" }), true);
  assert.equal(mayUseSecret(rule, { name: "dev", role: "submit" }), false);
  assert.equal(mayUseSecret(rule, { name: "viewer", role: "read" }), false);
  assert.equal(mayUseSecret(["role:submit"], { name: "ops", role: "operator" }), true);
  assert.equal(mayUseSecret([], { name: "ops", role: "operator" }), false);
  assert.equal(mayUseSecret(["token:ci"], { name: "ci2", role: "admin" }), true);
  assert.equal(mayUseSecret(["token:ci", "role:nonsense"], { name: "ops", role: "operator" }), false);
});

Deno.test("a job's submitter is the client token of the request; the join token and an agent's credential are none", () => {
  assert.deepEqual(submitterOf({ kind: "client", name: "ci", role: "submit" }), { name: "ci", role: "submit" });
  assert.equal(submitterOf({ kind: "join" }), null);
  assert.equal(submitterOf({ kind: "agent", agentId: "a1" }), null);
});

Deno.test("a submitter who may not use a secret is refused, saying who may", async () => {
  await withTracker(async (tracker) => {
    await tracker.secrets.set("PROD", { value: VALUE });
    const spec = { name: "j", tasks: [{ name: "t", run: "echo $PROD | base64", secrets: ["PROD"] }] };
    const error = await refusal(tracker.submitJob(spec, { submitter: { name: "dev", role: "submit" } }));
    assert.equal(error.code, "forbidden");
    assert.equal(
      error.message,
      'The job may not use the secret "PROD" ("tasks[0].secrets"): it is for jobs submitted with the operator role ' +
        '(or above); this one is submitted with the token "dev" (submit role)',
    );
    assert.equal(tracker.state.jobs.size, 0);
    await tracker.submitJob(spec, { submitter: { name: "ops", role: "operator" } });
  });
});

Deno.test("the secret routes: admin only; a bad name or value is refused without being echoed; no answer holds a value", async () => {
  await withTracker(async (tracker) => {
    await tracker.setTokens({ admin: "admin-token", join: "join-token" });
    const app = createRoutes(tracker, { caPem: "PEM" });
    const call = async (method: string, path: string, body?: unknown, token = "admin-token") => {
      const response = await app.request(path, {
        method,
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      return { status: response.status, text: await response.text() };
    };
    const put = await call("PUT", "/v1/secrets/DEPLOY_TOKEN", { value: VALUE, allow: ["submit"] });
    assert.equal(put.status, 200);
    assert.ok(!put.text.includes(VALUE));
    assert.equal(JSON.parse(put.text).created, true);
    assert.equal((await call("PUT", "/v1/secrets/DEPLOY_TOKEN", { value: VALUE }, "join-token")).status, 403);
    assert.equal((await call("GET", "/v1/secrets", undefined, "join-token")).status, 403);

    const list = await call("GET", "/v1/secrets");
    assert.equal(list.status, 200);
    assert.ok(!list.text.includes(VALUE));
    assert.deepEqual(JSON.parse(list.text).secrets.map((s: { name: string; allow: string[] }) => [s.name, s.allow]), [
      ["DEPLOY_TOKEN", ["role:submit"]],
    ]);

    const badName = await call("PUT", "/v1/secrets/bad-name", { value: VALUE });
    assert.equal(badName.status, 400);
    assert.match(badName.text, /A secret's name must be letters, digits and '_'/);
    const short = await call("PUT", "/v1/secrets/SHORT", { value: "ab\u0000" });
    assert.equal(short.status, 400);
    const long = `${VALUE}${"z".repeat(40_000)}`;
    const tooLong = await call("PUT", "/v1/secrets/LONG", { value: long });
    assert.equal(tooLong.status, 400);
    assert.ok(!tooLong.text.includes(VALUE), tooLong.text);
    assert.equal(tracker.secrets.list().length, 1, "nothing else was set");

    assert.equal((await call("DELETE", "/v1/secrets/NOPE")).status, 404);
    const deleted = await call("DELETE", "/v1/secrets/DEPLOY_TOKEN");
    assert.equal(deleted.status, 200);
    assert.deepEqual(JSON.parse(deleted.text), { name: "DEPLOY_TOKEN", deleted: true });
    assert.deepEqual(tracker.secrets.list(), []);
  });
});

Deno.test("a task placed after its submitter's token is revoked, or after the secret's rule no longer names it, is not given the secret", async () => {
  await withTracker(async (tracker) => {
    await tracker.createToken({ name: "ci", role: "submit" });
    await tracker.createToken({ name: "deployer", role: "submit" });
    await tracker.createToken({ name: "ops", role: "operator" });
    await tracker.secrets.set("DEPLOY", { value: VALUE, allow: ["token:ci", "token:deployer", "role:operator"] });
    const spec = { name: "j", tasks: [{ name: "t", run: "echo $DEPLOY", secrets: ["DEPLOY"] }] };
    const revoked = await tracker.submitJob(spec, { submitter: { name: "ci", role: "submit" } });
    const ruledOut = await tracker.submitJob(spec, { submitter: { name: "deployer", role: "submit" } });
    const still = await tracker.submitJob(spec, { submitter: { name: "ops", role: "operator" } });
    // After the submissions, before any task is placed: the token is revoked, the rule narrowed.
    await tracker.revokeToken("ci");
    await tracker.secrets.set("DEPLOY", { value: VALUE, allow: ["token:ci", "role:operator"] });
    const agent = (await tracker.registerAgent({ name: "a", ...AGENT, slots: 3 })).agentId;
    const { assignments } = await tracker.claim(agent, { holding: [], waitMs: 0 });
    assert.equal(assignments.length, 1, "only the operator's job is sent");
    assert.equal(assignments[0].secrets?.DEPLOY, VALUE);
    await tracker.flush();
    const reason = async (jobId: string) => (await getJob(tracker, jobId)).tasks[0];
    assert.equal((await reason(revoked.jobId)).state, "failed");
    assert.match(
      (await reason(revoked.jobId)).reason!,
      /^failed to start: the job's secrets are not given: the token "ci" that submitted the job has been revoked/,
    );
    assert.equal((await reason(ruledOut.jobId)).state, "failed");
    assert.match(
      (await reason(ruledOut.jobId)).reason!,
      /^failed to start: the secret "DEPLOY" is now for jobs submitted with the token "ci", the operator role \(or above\); this job was submitted with the token "deployer" \(submit role\)/,
    );
    assert.equal((await reason(still.jobId)).state, "assigned");
  });
});
