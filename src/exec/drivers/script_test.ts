import assert from "node:assert/strict";
import { join } from "node:path";
import { DEFAULT_PERMISSIONS, type Permissions } from "../../protocol/mod.ts";
import { cgroupSupport, run, TEST_PATH, withTempDir } from "../_testing.ts";
import { findDeno, scriptCommand } from "./script.ts";
import { lacks } from "../../../testing/machine.ts";

const support = await cgroupSupport();
const deno = await findDeno();

function command(permissions: Partial<Permissions>, envNames: string[] = []): string[] {
  return scriptCommand({
    denoPath: "deno",
    scriptFile: "/w/main.ts",
    workDir: "/w",
    tmpDir: "/w/tmp",
    permissions: { ...DEFAULT_PERMISSIONS, ...permissions },
    envNames,
  });
}

Deno.test("a script without permissions gets only its directories, FABRIC_* and its own env names", () => {
  assert.deepEqual(command({}, ["PATH", "HOME", "FABRIC_TASK_ID"]), [
    "deno",
    "run",
    "--no-prompt",
    "--no-config",
    "--cached-only",
    "--allow-read=/w,/w/tmp",
    "--allow-write=/w,/w/tmp",
    "--allow-env=FABRIC_*,PATH,HOME",
    "/w/main.ts",
  ]);
});

Deno.test("each permission becomes exactly its Deno flag", () => {
  assert.deepEqual(
    command({ net: ["example.com:443", "10.0.0.1"], read: ["/data"], write: ["/out"], env: ["AWS_*"], run: ["git"] }),
    [
      "deno",
      "run",
      "--no-prompt",
      "--no-config",
      "--allow-read=/w,/w/tmp,/data",
      "--allow-write=/w,/w/tmp,/out",
      "--allow-net=example.com:443,10.0.0.1",
      "--allow-env=FABRIC_*,AWS_*",
      "--allow-run=git",
      "/w/main.ts",
    ],
  );
  assert.ok(command({ net: true }).includes("--allow-net"));
  assert.ok(!command({ net: true }).includes("--cached-only"));
  assert.ok(command({ net: [] }).includes("--cached-only"), "an empty list is no network");
  assert.ok(!command({ net: [] }).some((arg) => arg.startsWith("--allow-net")));
});

Deno.test("a path with a comma, which Deno cannot express, is refused", () => {
  assert.throws(() => command({ read: ["/a,b"] }), RangeError);
});

Deno.test({
  name: "findDeno finds the deno running the tests",
  ignore: lacks("deno"),
}, async () => {
  assert.equal(await findDeno(), Deno.execPath());
});

Deno.test({
  name: "a script is refused the network by Deno unless its permissions allow it, inside its cgroup",
  ignore: lacks("deno"),
  fn: async () => {
    using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const { port } = listener.addr;
    const accepting = (async () => {
      for await (const conn of listener) conn.close();
    })().catch(() => {});
    await withTempDir(async (dir) => {
      const tmpDir = join(dir, "tmp");
      await Deno.mkdir(tmpDir);
      const scriptFile = join(dir, "main.ts");
      await Deno.writeTextFile(
        scriptFile,
        `const conn = await Deno.connect({ hostname: "127.0.0.1", port: Number(Deno.env.get("PORT")) });
conn.close();
console.log("connected");
`,
      );
      const env = { PATH: TEST_PATH, HOME: dir, TMPDIR: tmpDir, PORT: String(port), FABRIC_TASK_ID: "t1" };
      const runScript = (net: Permissions["net"]) =>
        run({
          command: scriptCommand({
            denoPath: deno!,
            scriptFile,
            workDir: dir,
            tmpDir,
            permissions: { ...DEFAULT_PERMISSIONS, net },
            envNames: Object.keys(env),
          }),
          cwd: dir,
          env,
          cgroup: support,
          memoryBytes: support ? 512 << 20 : null,
        });
      const denied = await runScript(false);
      assert.deepEqual(denied.finished.result, { kind: "exited", code: 1 });
      assert.match(denied.stderr, new RegExp(`Requires net access to "127\\.0\\.0\\.1:${port}"`));
      const allowed = await runScript([`127.0.0.1:${port}`]);
      assert.deepEqual(allowed.finished.result, { kind: "exited", code: 0 }, allowed.stderr);
      assert.equal(allowed.stdout, "connected\n");
    });
    listener.close();
    await accepting;
  },
});
