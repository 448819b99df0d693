import assert from "node:assert/strict";

const MODULE = new URL("./inherited_fds.ts", import.meta.url).href;

/**
 * What a program started by a Deno process that inherited descriptor 9 (from the shell that started
 * it) finds open, before and after that process calls closeInheritedOnExec. In a process of its own:
 * a descriptor that is not close-on-exec in this test process would reach what the other tests start.
 */
async function seenByChild(closeRange: boolean): Promise<{ before: string[]; after: string[]; result: unknown }> {
  const script = `
    import { closeInheritedOnExec } from ${JSON.stringify(MODULE)};
    const list = async () => new TextDecoder().decode((await new Deno.Command("sh", { args: ["-c", "ls /proc/$$/fd"] }).output()).stdout).trim().split("\\n");
    const before = await list();
    const result = closeInheritedOnExec({ closeRange: ${closeRange} });
    console.log(JSON.stringify({ before, after: await list(), result }));
  `;
  const out = await new Deno.Command("bash", {
    args: ["-c", 'exec 9</dev/null; exec "$0" eval "$1"', Deno.execPath(), script],
    stdin: "null",
  }).output();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  return JSON.parse(new TextDecoder().decode(out.stdout));
}

for (const closeRange of [true, false]) {
  Deno.test(`a descriptor the process inherited reaches no program it starts once marked (${closeRange ? "close_range" : "fcntl"})`, async () => {
    const { before, after, result } = await seenByChild(closeRange);
    assert.ok(before.includes("9"), `a child gets it as things are: ${before}`);
    assert.equal(result, null);
    assert.deepEqual(after, ["0", "1", "2"]);
  });
}
