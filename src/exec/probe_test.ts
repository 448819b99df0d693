import assert from "node:assert/strict";
import { join } from "node:path";
import { findExecutable } from "./_path_lookup.ts";
import { withTempDir } from "./_testing.ts";
import { detectCgroup } from "./cgroup_detect.ts";
import { probeCapabilities } from "./probe.ts";
import { lacks } from "../../testing/machine.ts";

Deno.test({
  name: "the probe runs the real sandbox, finds the cgroup, deno and git, and leaves nothing behind",
  ignore: lacks("bwrap", "deno"),
}, async () => {
  await withTempDir(async (dir) => {
    const dataDir = join(dir, "agent");
    const capabilities = await probeCapabilities({ dataDir });
    assert.deepEqual(capabilities, {
      sandbox: true,
      sandboxError: null,
      cgroup: (await detectCgroup())?.version ?? null,
      deno: Deno.execPath(),
      git: findExecutable("git", Deno.env.get("PATH") ?? "") !== null,
    });
    assert.deepEqual([...Deno.readDirSync(dataDir)], [], "the probe's work dir is removed");
  });
});

Deno.test("a sandbox that cannot start is reported with bwrap's own words", async () => {
  await withTempDir(async (dir) => {
    const fake = join(dir, "bwrap");
    await Deno.writeTextFile(fake, "#!/bin/sh\necho 'bwrap: No permissions to create new namespace' >&2\nexit 1\n", {
      mode: 0o755,
    });
    const capabilities = await probeCapabilities({ dataDir: join(dir, "agent"), bwrapPath: fake });
    assert.equal(capabilities.sandbox, false);
    assert.equal(capabilities.sandboxError, "bwrap: No permissions to create new namespace");
  });
});
