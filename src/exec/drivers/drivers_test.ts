import assert from "node:assert/strict";
import { join } from "node:path";
import type { AssignmentOf, TaskKind } from "../../protocol/mod.ts";
import { newRuntime, run, sandbox, withTempDir } from "../_testing.ts";
import type { TaskContext } from "../driver.ts";
import { driverFor } from "./registry.ts";
import { ASSIGNMENT_BASE, taskContext } from "./_testing.ts";
import { findDeno } from "./script.ts";
import { lacks } from "../../../testing/machine.ts";

const deno = await findDeno();

const base = ASSIGNMENT_BASE;

function context(dir: string, over: Partial<TaskContext> = {}): TaskContext {
  return taskContext(dir, { host: newRuntime({ dataDir: "/nonexistent/data", deno }), ...over });
}

Deno.test("each kind has its driver", () => {
  for (const kind of ["shell", "script", "git", "addon"] as TaskKind[]) assert.equal(driverFor(kind).kind, kind);
});

Deno.test("the shell driver runs `run` with its shell", async () => {
  await withTempDir(async (dir) => {
    const task: AssignmentOf<"shell"> = { ...base, kind: "shell", run: "echo hi", shell: "sh" };
    assert.deepEqual(await driverFor("shell").prepare(task, context(dir)), { command: ["sh", "-e", "-c", "echo hi"] });
  });
});

Deno.test("a script gets a Deno cache of its own in its /tmp, and deno itself readable in the sandbox", async () => {
  await withTempDir(async (dir) => {
    const task: AssignmentOf<"script"> = {
      ...base,
      kind: "script",
      script: { name: "../../tools/report", content: "console.log(1)" },
    };
    const sandboxed = await driverFor("script").prepare(task, context(dir));
    assert.deepEqual(sandboxed.env, { DENO_DIR: "/tmp/deno-cache", DENO_NO_UPDATE_CHECK: "1" });
    assert.deepEqual(sandboxed.readPaths, [deno]);
    const file = join(dir, ".fabric", "report.ts");
    assert.equal(Deno.readTextFileSync(file), "console.log(1)", "written under its base name only");
    assert.ok(sandboxed.command.includes(`--allow-read=${dir},/tmp`), sandboxed.command.join(" "));
    assert.ok(sandboxed.command.includes("--allow-env=FABRIC_*,PATH,HOME,DENO_DIR,DENO_NO_UPDATE_CHECK"));
    assert.equal(sandboxed.command.at(-1), file);

    const onHost = await driverFor("script").prepare(task, context(dir, { sandboxed: false }));
    assert.equal(onHost.env?.DENO_DIR, join(dir, "tmp", "deno-cache"));
    assert.ok(onHost.command.includes(`--allow-write=${dir},${join(dir, "tmp")}`));

    const none = context(dir, { host: newRuntime({ dataDir: "/nonexistent/data", deno: null }) });
    await assert.rejects(driverFor("script").prepare(task, none), /this agent has no Deno runtime for script tasks/);
  });
});

Deno.test({
  name: "a script runs in the sandbox with a deno installed outside the system's directories",
  ignore: deno === null || lacks("bwrap", "deno"),
  fn: async () => {
    await withTempDir(async (dir) => {
      // As under ~/.deno/bin: not among the paths the sandbox shows. A hard link, not a copy (same disk).
      const bin = await Deno.makeTempDir({ dir: "/var/tmp", prefix: "fabric-deno-" });
      try {
        const ownDeno = join(bin, "deno");
        try {
          Deno.linkSync(deno!, ownDeno);
        } catch {
          Deno.copyFileSync(deno!, ownDeno);
        }
        const workDir = join(dir, "work");
        const ctx = context(workDir, { host: newRuntime({ dataDir: join(dir, "data"), deno: ownDeno }) });
        const task: AssignmentOf<"script"> = {
          ...base,
          kind: "script",
          script: { name: "main.ts", content: 'console.log("ran", Deno.env.get("DENO_DIR"))' },
        };
        const launch = await driverFor("script").prepare(task, ctx);
        const ran = await run({
          command: launch.command,
          cwd: workDir,
          env: { ...ctx.env, ...launch.env },
          sandbox: sandbox(workDir, { extraReadPaths: launch.readPaths }),
        });
        assert.deepEqual(ran.finished.result, { kind: "exited", code: 0 }, ran.stderr);
        assert.equal(ran.stdout, "ran /tmp/deno-cache\n");
      } finally {
        await Deno.remove(bin, { recursive: true });
      }
    });
  },
});
