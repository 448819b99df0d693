/**
 * What every command loads before it runs (src/cli/mod.ts's static imports): `fabric --version`, a
 * usage error or `--help` must not pay for every zod schema (~100 ms of CPU) or node:crypto (~50 ms);
 * each command loads what it needs itself.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { REPO } from "../testing/process.ts";

interface Module {
  specifier: string;
  dependencies?: Array<{ specifier: string; code?: { specifier: string }; isDynamic?: boolean }>;
}

/** The modules `root` loads at its start: code imports followed, type-only and dynamic ones not. */
async function loadedAtStart(root: string): Promise<Array<{ specifier: string; via: string }>> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", "--config", join(REPO, "deno.json"), join(REPO, root)],
    cwd: REPO,
  }).output();
  assert.equal(output.code, 0, new TextDecoder().decode(output.stderr));
  const { modules } = JSON.parse(new TextDecoder().decode(output.stdout)) as { modules: Module[] };
  const bySpecifier = new Map(modules.map((module) => [module.specifier, module]));
  const rootSpecifier = new URL(`file://${join(REPO, root)}`).href;
  const reached = new Map<string, string>([[rootSpecifier, "(root)"]]);
  const pending = [rootSpecifier];
  // Bounded by the graph's size: each module is entered once.
  while (pending.length > 0) {
    const module = bySpecifier.get(pending.pop()!);
    for (const dep of module?.dependencies ?? []) {
      const to = dep.code?.specifier;
      if (!to || dep.isDynamic || reached.has(to)) continue;
      reached.set(to, module!.specifier);
      pending.push(to);
    }
  }
  return [...reached].map(([specifier, via]) => ({ specifier, via: via.replace(`file://${REPO}/`, "") }));
}

Deno.test("every command's common start (src/cli/mod.ts) loads neither zod nor node:crypto", async () => {
  const heavy = (await loadedAtStart("src/cli/mod.ts")).filter(({ specifier }) =>
    /^npm:\/?zod@/.test(specifier) || specifier === "node:crypto"
  );
  assert.deepEqual(heavy, [], "imported at the start of every command");
});

/**
 * The modules of fabric's commands as src/cli/mod.ts names them, but the daemons and the tools that
 * work without a tracker (they may load every schema): a new client command is checked without a word here.
 */
async function clientCommands(): Promise<string[]> {
  const NOT_CLIENTS = new Set(["tracker", "agent", "dev", "store", "validate", "schema", "key", "completions"]);
  const source = await Deno.readTextFile(join(REPO, "src/cli/mod.ts"));
  const modules = [...source.matchAll(/import\("\.\/([a-z_]+)\.ts"\)/g)].map((match) => match[1]);
  const clients = [...new Set(modules)].filter((name) => !NOT_CLIENTS.has(name));
  assert.ok(clients.includes("submit") && clients.length >= 10, `the commands found in src/cli/mod.ts: ${clients}`);
  return clients;
}

Deno.test("a client command loads the protocol's parts it uses, never its mod.ts (every schema)", async () => {
  // fabric submit loaded all 67 of the protocol's and client's modules through one value import of
  // protocol/mod.ts (~25 ms of CPU more per command); the daemons and offline tools may load it.
  for (const command of await clientCommands()) {
    const loaded = await loadedAtStart(`src/cli/${command}.ts`);
    const barrel = loaded.find(({ specifier }) => specifier.endsWith("/src/protocol/mod.ts"));
    assert.equal(barrel, undefined, `fabric ${command} loads protocol/mod.ts (imported by ${barrel?.via})`);
  }
  // A plain job's submit loads neither the packer, the signer nor the periodic view.
  const submit = (await loadedAtStart("src/cli/submit.ts")).map(({ specifier }) => specifier);
  for (const lazy of ["/src/cli/job_packs.ts", "/src/cli/key.ts", "/src/cli/periodic.ts", "/src/protocol/signing.ts"]) {
    assert.ok(!submit.some((specifier) => specifier.endsWith(lazy)), `fabric submit loads ${lazy} at its start`);
  }
});
