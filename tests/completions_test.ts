/** The completion scripts: valid for their shell, and they complete what fabric takes. */
import assert from "node:assert/strict";
import { findExecutable } from "../src/exec/mod.ts";
import { fabric } from "../testing/process.ts";

const PATH = Deno.env.get("PATH") ?? "";

async function script(shell: string): Promise<string> {
  const out = await fabric(["completions", shell]);
  assert.equal(out.code, 0, out.stderr);
  return out.stdout;
}

/** What bash completes for `words` (the last one being typed). */
async function complete(source: string, words: string[]): Promise<string[]> {
  const dir = await Deno.makeTempDir({ prefix: "fabric-completions-" });
  try {
    await Deno.writeTextFile(`${dir}/fabric.bash`, source);
    const program = `source ${dir}/fabric.bash; COMP_WORDS=(${words.map((w) => `'${w}'`).join(" ")}); ` +
      `COMP_CWORD=${words.length - 1}; _fabric; printf '%s\\n' "\${COMPREPLY[@]}"`;
    const out = await new Deno.Command("bash", { args: ["-c", program], cwd: dir }).output();
    assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
    return new TextDecoder().decode(out.stdout).split("\n").filter(Boolean).sort();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("bash completes commands, subcommands and each command's own flags", async () => {
  const bash = await script("bash");
  assert.deepEqual(await complete(bash, ["fabric", "rer"]), ["rerun"]);
  assert.deepEqual(await complete(bash, ["fabric", "re"]), ["rerun", "results"]);
  assert.deepEqual(await complete(bash, ["fabric", "agents", "d"]), ["drain"]);
  assert.deepEqual(await complete(bash, ["fabric", "logs", "--f"]), ["--follow"]);
  assert.deepEqual(await complete(bash, ["fabric", "status", "--st"]), ["--state"]);
  // Flags come from each command's option lines, not from prose quoting other programs' flags.
  const agent = await complete(bash, ["fabric", "agent", "--"]);
  assert.ok(agent.includes("--reset-settings") && agent.includes("--verify-key"));
  assert.ok(!agent.includes("--shell") && !agent.includes("--system"), agent.join(" "));
  const wrong = await fabric(["completions", "tcsh"]);
  assert.equal(wrong.code, 2);
  assert.match(wrong.stderr, /bash, zsh or fish/);
});

Deno.test({ name: "the zsh script is valid zsh", ignore: findExecutable("zsh", PATH) === null }, async () => {
  const out = await new Deno.Command("zsh", { args: ["-n", "-c", await script("zsh")] }).output();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
});

Deno.test({ name: "the fish script is valid fish", ignore: findExecutable("fish", PATH) === null }, async () => {
  const out = await new Deno.Command("fish", { args: ["--no-execute", "-c", await script("fish")] }).output();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
});
