/** Why a job's tasks wait, as `submit --wait` asks for it: counted by reason, the lasting reason first. */
import assert from "node:assert/strict";
import { join } from "node:path";
import type { FabricError } from "../protocol/mod.ts";
import { SqliteStore } from "../store/mod.ts";
import { jobWaiting } from "./queries.ts";
import { testClock } from "./_testing.ts";
import { Tracker } from "./tracker.ts";

Deno.test("waiting tasks are counted by reason, and one no agent could ever run says so with what to install", async () => {
  const dir = await Deno.makeTempDir({ prefix: "fabric-waiting-test-" });
  let ids = 0;
  const tracker = await Tracker.open({
    store: SqliteStore.open(join(dir, "fabric.db")),
    clock: testClock(),
    newId: () => `id${ids++}`,
    heartbeatMs: 1000,
    ttlMs: 3000,
  });
  try {
    const { agentId } = await tracker.registerAgent({
      name: "a",
      slots: 1,
      labels: {},
      version: "test",
      os: "linux",
      arch: "x86_64",
      capabilities: { sandbox: true, unsandboxed: false, cgroup: null, deno: true, git: false },
      resources: { cpu: 4, memory: 2 ** 33, disk: 2 ** 36 },
    });
    await tracker.submitJob({ name: "busy", tasks: [{ name: "long", run: "sleep 60" }] });
    assert.equal((await tracker.claim(agentId, { holding: [], waitMs: 0 })).assignments.length, 1);
    const { jobId } = await tracker.submitJob({
      name: "j",
      tasks: [
        { name: "build", run: "true" },
        { name: "fetch", git: { repo: "https://example.com/r.git" }, run: "true" },
        { name: "after", needs: ["build"], count: 3, run: "true" },
      ],
    });
    await Promise.resolve(); // the scheduling pass a submit asks for
    const notes = jobWaiting(tracker, jobId);
    assert.deepEqual(notes.map((n) => [n.reason, n.tasks, n.noAgent, n.example.name]), [
      ["no ready agent has git", 1, true, "fetch"],
      ['waiting for "build"', 3, false, "after[0]"],
      ["waiting for a free slot on 1 eligible agent(s)", 1, false, "build"],
    ]);
    assert.match(notes[0].hint!, /an agent needs git for git tasks: sudo apt-get install git/);
    assert.deepEqual(jobWaiting(tracker, "no-such-job"), []);
  } finally {
    await tracker.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a task using an add-on no agent has waits saying which, with what to do; a with that does not fit an advertised schema is refused with its path", async () => {
  const dir = await Deno.makeTempDir({ prefix: "fabric-waiting-test-" });
  let ids = 0;
  const tracker = await Tracker.open({
    store: SqliteStore.open(join(dir, "fabric.db")),
    clock: testClock(),
    newId: () => `id${ids++}`,
    heartbeatMs: 1000,
    ttlMs: 3000,
  });
  try {
    const parameters = {
      type: "object",
      properties: { url: { type: "string", pattern: "^https?://" } },
      required: ["url"],
      additionalProperties: false,
    };
    await tracker.registerAgent({
      name: "a",
      slots: 1,
      labels: {},
      version: "test",
      os: "linux",
      arch: "x86_64",
      capabilities: {
        sandbox: true,
        unsandboxed: false,
        cgroup: null,
        deno: true,
        git: false,
        addons: [{ name: "http-check", version: "1.0.0", description: "", parameters }],
      },
      resources: { cpu: 4, memory: 2 ** 33, disk: 2 ** 36 },
    });
    const { jobId } = await tracker.submitJob({
      name: "j",
      tasks: [{ name: "check", uses: "http-check@2.0.0", with: { anything: true } }],
    });
    await Promise.resolve();
    const notes = jobWaiting(tracker, jobId);
    assert.deepEqual(notes.map((n) => [n.reason, n.noAgent]), [["no agent has add-on http-check@2.0.0", true]]);
    assert.match(notes[0].hint!, /fabric agent --addons DIR/);

    await assert.rejects(
      tracker.submitJob({
        name: "bad",
        tasks: [{ name: "ok", run: "true" }, {
          name: "check",
          uses: "http-check@1.0.0",
          with: { url: "ftp://x", n: 1 },
        }],
      }),
      (error: FabricError) => {
        assert.equal(error.code, "invalid_job");
        assert.deepEqual(error.details, {
          issues: [
            '"tasks[1].with.n" is not a parameter of this add-on (the parameters of add-on http-check@1.0.0)',
            '"tasks[1].with.url" must match pattern "^https?://" (the parameters of add-on http-check@1.0.0)',
          ],
          problems: [
            {
              path: ["tasks", 1, "with", "n"],
              message:
                '"tasks[1].with.n" is not a parameter of this add-on (the parameters of add-on http-check@1.0.0)',
            },
            {
              path: ["tasks", 1, "with", "url"],
              message:
                '"tasks[1].with.url" must match pattern "^https?://" (the parameters of add-on http-check@1.0.0)',
            },
          ],
        });
        return true;
      },
    );
    await tracker.submitJob({
      name: "good",
      tasks: [{ name: "check", uses: "http-check@1.0.0", with: { url: "http://x" } }],
    });
  } finally {
    await tracker.close();
    await Deno.remove(dir, { recursive: true });
  }
});
