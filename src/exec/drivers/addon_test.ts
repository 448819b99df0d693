import assert from "node:assert/strict";
import { join } from "node:path";
import type { AssignmentOf } from "../../protocol/mod.ts";
import { newRuntime, run, withTempDir } from "../_testing.ts";
import type { TaskContext } from "../driver.ts";
import type { LoadedAddon } from "../loaded_addon.ts";
import { driverFor } from "./registry.ts";
import { ASSIGNMENT_BASE, taskContext } from "./_testing.ts";

const encoder = new TextEncoder();

function loaded(run: LoadedAddon["run"]): LoadedAddon {
  return {
    name: "echo",
    version: "1.0.0",
    description: "",
    parameters: {
      type: "object",
      properties: { msg: { type: "string" }, n: { type: "integer" } },
      required: ["msg"],
      additionalProperties: false,
    },
    run,
    files: [
      { path: "addon.yaml", data: encoder.encode("name: echo\n"), executable: false },
      {
        path: "bin/say.sh",
        data: encoder.encode('printf "%s|%s\\n" "$FABRIC_WITH_MSG" "$FABRIC_WITH_N"\n'),
        executable: true,
      },
    ],
  };
}

function task(withValues: Record<string, unknown>): AssignmentOf<"addon"> {
  return {
    ...ASSIGNMENT_BASE,
    sandbox: false,
    kind: "addon",
    addon: { name: "echo", version: "1.0.0", with: withValues },
  };
}

function context(dir: string, addon: LoadedAddon): TaskContext {
  return taskContext(dir, { host: newRuntime({ addons: new Map([["echo@1.0.0", addon]]) }), sandboxed: false });
}

const HOSTILE = `'; touch pwned; echo "$(touch pwned2)" \`touch pwned3\``;

for (
  const [how, runs] of [
    ["an argv", { argv: ["sh", "{addon}/bin/say.sh"] }],
    ["a shell line", { shell: 'sh "$FABRIC_ADDON_DIR/bin/say.sh"' }],
  ] as Array<[string, LoadedAddon["run"]]>
) {
  Deno.test(`an add-on run by ${how} gets its parameters as data: a hostile value runs nothing`, async () => {
    await withTempDir(async (dir) => {
      const ctx = context(dir, loaded(runs));
      const launch = await driverFor("addon").prepare(task({ msg: HOSTILE, n: 7 }), ctx);
      const ran = await run({ command: launch.command, cwd: dir, env: { ...ctx.env, ...launch.env } });
      assert.deepEqual(ran.finished.result, { kind: "exited", code: 0 }, ran.stderr);
      assert.equal(ran.stdout, `${HOSTILE}|7\n`);
      for (const file of ["pwned", "pwned2", "pwned3"]) {
        await assert.rejects(Deno.stat(join(dir, file)), Deno.errors.NotFound);
      }
      const addonDir = join(dir, ".fabric", "addon");
      assert.equal(launch.env?.FABRIC_ADDON_DIR, addonDir);
      assert.deepEqual(JSON.parse(Deno.readTextFileSync(launch.env!.FABRIC_WITH_FILE)), { msg: HOSTILE, n: 7 });
      // Its files are read-only copies of what was loaded.
      assert.equal(Deno.statSync(join(addonDir, "bin", "say.sh")).mode! & 0o777, 0o555);
      assert.equal(Deno.statSync(join(addonDir, "addon.yaml")).mode! & 0o777, 0o444);
    });
  });
}

Deno.test("a with that does not fit, or an add-on this agent lacks, fails the task's start with the reason", async () => {
  await withTempDir(async (dir) => {
    const ctx = context(dir, loaded({ argv: ["true"] }));
    await assert.rejects(
      driverFor("addon").prepare(task({ msg: 1, extra: true }), ctx),
      {
        message: '"with" does not fit the parameters of add-on echo@1.0.0: "with.extra" is not a parameter of this ' +
          'add-on; "with.msg" must be string',
      },
    );
    const other = { ...task({ msg: "x" }), addon: { name: "echo", version: "2.0.0", with: { msg: "x" } } };
    await assert.rejects(driverFor("addon").prepare(other, ctx), { message: "this agent has no add-on echo@2.0.0" });
  });
});
