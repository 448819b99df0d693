/**
 * Add-ons end to end, through real agents: the shipped examples run (http-check against a loopback
 * server this test starts, json-report over a needed task's output), an add-on gets no more than its
 * task grants, a `with` that does not fit is refused at submit at its line and column and by the
 * agent, a task using an add-on no agent has waits saying so, and hostile add-ons are skipped.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { AgentView, JobDetail, TaskDetail } from "../src/protocol/mod.ts";
import { Cluster } from "../testing/cluster.ts";
import { waitFor } from "../testing/process.ts";
import { lacks } from "../testing/machine.ts";

const EXAMPLES = fileURLToPath(new URL("../examples/addons", import.meta.url));

/** The shipped add-ons copied into `dir` (the agent's --addons). */
async function copyExamples(dir: string): Promise<void> {
  await Deno.mkdir(dir, { recursive: true });
  for (const addon of ["http-check", "json-report"]) {
    await Deno.mkdir(join(dir, addon));
    for await (const entry of Deno.readDir(join(EXAMPLES, addon))) {
      await Deno.copyFile(join(EXAMPLES, addon, entry.name), join(dir, addon, entry.name));
    }
  }
}

/** An HTTP server on loopback: 200 on /ok, 503 on /down; the paths it was asked for. */
function startServer() {
  const asked: string[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, (request) => {
    const path = new URL(request.url).pathname;
    asked.push(path);
    return new Response(path, { status: path === "/down" ? 503 : 200 });
  });
  return { asked, port: server.addr.port, server };
}

Deno.test({
  name: "the example add-ons run through a real agent, in its sandbox, with no more than their task grants",
  ignore: lacks("bwrap", "deno", "curl"),
}, async () => {
  const { asked, port, server } = startServer();
  const root = await Deno.makeTempDir({ prefix: "fabric-addons-" });
  await Deno.chmod(root, 0o755);
  const addonsDir = join(root, "addons");
  await copyExamples(addonsDir);
  const cluster = await Cluster.start({ agents: [{ name: "a1", slots: 4, extraArgs: ["--addons", addonsDir] }] });
  try {
    const file = await cluster.writeFile(
      "checks.yaml",
      `name: checks
tasks:
  - name: up
    uses: http-check@1.0.0
    permissions: {net: ["127.0.0.1:${port}"]}
    with: {url: "http://127.0.0.1:${port}/ok", expect: [200, 204]}
  - name: down
    uses: http-check@1.0.0
    permissions: {net: ["127.0.0.1:${port}"]}
    with: {url: "http://127.0.0.1:${port}/down", timeout: 5}
  - name: no-net
    uses: http-check@1.0.0
    with: {url: "http://127.0.0.1:${port}/secret", timeout: 5}
  - name: report
    uses: json-report@1.0.0
    needs: [up]
    with: {title: "Checks"}
`,
    );
    const result = await cluster.cli(["submit", file, "--wait", "--json"]);
    const job = JSON.parse(result.stdout) as JobDetail;
    const task = (name: string) => job.tasks.find((t) => t.name === name)!;
    const detail = (name: string) => cluster.json<TaskDetail>(["status", task(name).id]);
    const logs = (name: string) => cluster.cli(["logs", task(name).id]);

    assert.equal(task("up").state, "succeeded", cluster.describe());
    assert.equal((await logs("up")).stdout, `http-check: GET http://127.0.0.1:${port}/ok: 200\n`);
    assert.deepEqual((await detail("up")).output, { status: 200 });

    assert.equal(task("down").state, "failed");
    assert.match(
      (await logs("down")).stderr,
      /http-check: GET http:\/\/127\.0\.0\.1:\d+\/down: 503, expected one of 200/,
    );

    // The same add-on, without `net` granted: its sandbox has no network, and the server never hears of it.
    assert.equal(task("no-net").state, "failed");
    assert.match((await logs("no-net")).stderr, /no answer/);
    assert.deepEqual(asked.sort(), ["/down", "/ok"]);

    assert.equal(task("report").state, "succeeded", (await logs("report")).stderr);
    const markdown = "# Checks\n\n## up\n\n| field | value |\n| --- | --- |\n| status | 200 |\n";
    assert.equal((await logs("report")).stdout, `${markdown}\n`);
    assert.deepEqual((await detail("report")).output, { markdown });
  } finally {
    await cluster.stop();
    await server.shutdown();
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test({
  name:
    "an add-on no agent has: the task waits saying so; a with that does not fit fails it on the agent, and at submit once the add-on is known, at its line and column",
  ignore: lacks("deno"),
}, async () => {
  // An agent without add-ons: the tracker knows of none.
  const cluster = await Cluster.start({ agents: [{ name: "a0", extraArgs: ["--allow-unsandboxed"] }] });
  try {
    const job = (url: string) =>
      `name: early
sandbox: false
tasks:
  - name: check
    uses: http-check@1.0.0
    with:
      url: "${url}"
`;
    // No agent has it: nothing to check it against, so it is taken, and waits.
    const early = await cluster.submit(job("ftp://example.invalid/"), "early.yaml");
    const waiting = await waitFor("the wait reason", async () => {
      const detail = await cluster.json<JobDetail>(["status", early]);
      return detail.tasks[0].reason === "no agent has add-on http-check@1.0.0" && detail;
    });
    assert.equal(waiting.tasks[0].state, "queued");
    assert.equal(waiting.tasks[0].uses, "http-check@1.0.0");
    assert.match(
      (await cluster.cli(["status", waiting.tasks[0].id])).stdout,
      /addon task \(http-check@1\.0\.0\), unsandboxed/,
    );
    assert.match((await cluster.cli(["status", early])).stdout, /no agent has add-on http-check@1\.0\.0/);

    // The agent has the examples and hostile add-ons: those are skipped with their reasons, it starts.
    const addonsDir = join(cluster.root, "addons");
    await copyExamples(addonsDir);
    const linked = join(addonsDir, "link-out");
    await Deno.mkdir(linked);
    await Deno.writeTextFile(join(linked, "addon.yaml"), "name: link-out\nversion: 1.0.0\nrun: cat stolen\n");
    await Deno.symlink(join(cluster.trackerDir, "admin.token"), join(linked, "stolen"));
    const bad = join(addonsDir, "bad-schema");
    await Deno.mkdir(bad);
    await Deno.writeTextFile(
      join(bad, "addon.yaml"),
      "name: bad\nversion: 1.0.0\nrun: 'true'\nparameters: {type: object, required: 3}\n",
    );
    const huge = join(addonsDir, "huge");
    await Deno.mkdir(huge);
    await Deno.writeTextFile(join(huge, "addon.yaml"), "name: huge\nversion: 1.0.0\nrun: 'true'\n");
    using blob = await Deno.open(join(huge, "blob"), { write: true, create: true });
    await blob.truncate(64 * 1024 * 1024);
    const agent = cluster.startAgent({ name: "a1", extraArgs: ["--addons", addonsDir, "--allow-unsandboxed"] });
    await cluster.waitForAgents(["a0", "a1"]);
    await agent.waitForOutput(/add-on "[^"]*link-out" skipped: "stolen" is a link out of the add-on's folder/);
    await agent.waitForOutput(/add-on "[^"]*bad-schema" skipped: addon\.yaml: "parameters" is not a JSON Schema/);
    await agent.waitForOutput(/add-on "[^"]*huge" skipped: "blob" takes the add-on's files past \d+ bytes/);
    const a1 = (await cluster.json<AgentView[]>(["agents"])).find((a) => a.name === "a1")!;
    assert.deepEqual(a1.capabilities.addons?.map((a) => `${a.name}@${a.version}`), [
      "http-check@1.0.0",
      "json-report@1.0.0",
    ]);
    assert.deepEqual(a1.capabilities.addons?.[0].parameters.required, ["url"]);
    assert.match((await cluster.cli(["agents"])).stdout, /http-check@1\.0\.0,json-report@1\.0\.0/);

    // The agent checks the waiting task's `with` before anything runs.
    const failed = await cluster.waitForJob(early);
    assert.equal(failed.tasks[0].state, "failed");
    assert.match(
      failed.tasks[0].reason ?? "",
      /^failed to start: "with" does not fit the parameters of add-on http-check@1\.0\.0: "with\.url" must match pattern "\^https\?:\/\/"/,
    );

    // Now the tracker knows the add-on: the same file is refused at submit, at the value's line and column.
    const file = await cluster.writeFile("late.yaml", job("ftp://example.invalid/"));
    const refused = await cluster.cli(["submit", file]);
    assert.equal(refused.code, 2, refused.stderr);
    assert.equal(
      refused.stderr.trim(),
      `Cannot submit "${file}": line 7, column 12: "tasks[0].with.url" must match pattern "^https?://" ` +
        "(the parameters of add-on http-check@1.0.0)",
    );
    const fine = await cluster.cli(["submit", await cluster.writeFile("ok.yaml", job("http://127.0.0.1:9/"))]);
    assert.equal(fine.code, 0, fine.stderr);
  } finally {
    await cluster.stop();
  }
});
