/** examples/systemd/: the unit files parse, and what they start is what fabric takes. */
import assert from "node:assert/strict";
import { join } from "node:path";
import { findExecutable } from "../src/exec/mod.ts";
import { fabric } from "../testing/process.ts";

const UNITS = new URL("../examples/systemd/", import.meta.url).pathname;
const NAMES = ["fabric-tracker.service", "fabric-agent.service"];
const ANALYZE = findExecutable("systemd-analyze", Deno.env.get("PATH") ?? "");

/** ExecStart's words, with the agent's $FABRIC_JOIN_ARGS as an admin would set them. */
async function execStart(name: string): Promise<string[]> {
  const text = await Deno.readTextFile(join(UNITS, name));
  const line = text.split("\n").find((l) => l.startsWith("ExecStart="))!;
  return line.slice("ExecStart=".length)
    .replace("$FABRIC_JOIN_ARGS", `--join tracker.example.com:7443 --ca-hash sha256:${"a".repeat(64)}`)
    .split(/\s+/);
}

Deno.test("the units start fabric with flags it takes", async () => {
  for (const name of NAMES) {
    const [binary, ...args] = await execStart(name);
    assert.equal(binary, "/usr/local/bin/fabric");
    // --help parses every flag strictly first: an unknown or misspelt one is an error (exit 2).
    const run = await fabric([...args, "--help"]);
    assert.equal(run.code, 0, `${name}: ${run.stderr}`);
  }
  const agent = await Deno.readTextFile(join(UNITS, "fabric-agent.service"));
  // The agent stops its own tasks, draining: systemd must signal it alone and wait past its grace.
  assert.match(agent, /^KillMode=mixed$/m);
  assert.match(agent, /^Delegate=yes$/m);
  const grace = Number((await execStart("fabric-agent.service")).at(-1)!.replace("m", ""));
  const timeout = Number(agent.match(/^TimeoutStopSec=(\d+)min$/m)![1]);
  assert.ok(timeout > grace, "TimeoutStopSec outlasts --stop-grace");
});

Deno.test({
  name: "systemd-analyze verify finds nothing to say about the units",
  ignore: ANALYZE === null,
}, async () => {
  const dir = await Deno.makeTempDir({ prefix: "fabric-units-" });
  try {
    // verify wants ExecStart's program to exist: a stand-in in the copy.
    const stand = join(dir, "fabric");
    await Deno.writeTextFile(stand, "#!/bin/sh\nexit 0\n", { mode: 0o755 });
    for (const name of NAMES) {
      const text = await Deno.readTextFile(join(UNITS, name));
      await Deno.writeTextFile(join(dir, name), text.replaceAll("/usr/local/bin/fabric", stand));
    }
    const out = await new Deno.Command(ANALYZE!, { args: ["verify", ...NAMES.map((n) => join(dir, n))] }).output();
    const said = new TextDecoder().decode(out.stderr) + new TextDecoder().decode(out.stdout);
    assert.equal(out.code, 0, said);
    assert.equal(said.trim(), "", "no warning (an unknown key or a bad value is only a warning)");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
