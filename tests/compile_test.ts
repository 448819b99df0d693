/**
 * `deno task compile` embeds every module a command may load. deno.json has Deno load dynamic imports
 * only when they run, and deno compile honours that too: compiled with deno.json itself, the executable
 * held main.ts, cli/mod.ts and little else, and every command failed to load. The runtime it builds on
 * (denort) is downloaded, which a machine without the network cannot do: DENORT_BIN names this deno
 * instead, which makes an executable that does not run as fabric, but lists what it embeds all the same.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { REPO } from "../testing/process.ts";

/** The paths of the files `deno compile` says it embedded, from its tree ("├─┬ src", "│ ├── mod.ts (1KB)"). */
function embeddedFiles(report: string): string[] {
  const lines = report.split("\n"); // NO_COLOR: no escapes
  const start = lines.findIndex((line) => line.trim() === "Embedded Files");
  const files: string[] = [];
  const parents: string[] = [];
  for (const line of lines.slice(start + 1)) {
    const branch = line.search(/[├└]/);
    if (branch < 0) continue;
    const depth = branch / 2;
    const name = line.slice(branch + 4).replace(/ \([^)]*\)$/, "");
    parents.length = depth;
    parents.push(name);
    if (line.slice(branch + 2, branch + 3) !== "┬") files.push(parents.join("/"));
  }
  return files;
}

/** Our own modules main.ts may load at run time (dynamic imports too; type-only ones are erased), relative to the checkout. */
async function ownModules(): Promise<string[]> {
  const output = await new Deno.Command(Deno.execPath(), { args: ["info", "--json", "main.ts"], cwd: REPO }).output();
  assert.equal(output.code, 0, new TextDecoder().decode(output.stderr));
  const { modules, roots } = JSON.parse(new TextDecoder().decode(output.stdout)) as {
    roots: string[];
    modules: { specifier: string; dependencies?: { code?: { specifier: string } }[] }[];
  };
  const bySpecifier = new Map(modules.map((module) => [module.specifier, module]));
  const reached = new Set(roots);
  const pending = [...roots];
  // Bounded by the graph's size: each module is entered once.
  while (pending.length > 0) {
    for (const dep of bySpecifier.get(pending.pop()!)?.dependencies ?? []) {
      const to = dep.code?.specifier;
      if (!to || reached.has(to)) continue;
      reached.add(to);
      pending.push(to);
    }
  }
  const prefix = new URL(`file://${REPO}`).href;
  return [...reached].filter((specifier) => specifier.startsWith(prefix)).map((specifier) =>
    specifier.slice(prefix.length)
  );
}

Deno.test("deno task compile embeds every module a command may load, the workers and the dashboard's files", async () => {
  const dir = await Deno.makeTempDir({ prefix: "fabric-compile-" });
  try {
    const output = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "testing/compile.ts", "--output", join(dir, "fabric")],
      cwd: REPO,
      env: { DENORT_BIN: await Deno.realPath(Deno.execPath()), NO_COLOR: "1" },
    }).output();
    const report = new TextDecoder().decode(output.stdout) + new TextDecoder().decode(output.stderr);
    assert.equal(output.code, 0, report);
    const embedded = new Set(embeddedFiles(report).map((path) => path.replace(/^fabric\//, "")));
    const modules = await ownModules();
    assert.ok(modules.includes("src/cli/tracker.ts") && modules.includes("src/agent/mod.ts"), "deno info lists them");
    // A folder embedded whole is listed as "tls/*".
    const whole = [...embedded].filter((path) => path.endsWith("/*")).map((path) => path.slice(0, -1));
    const missing = modules.filter((module) => !embedded.has(module) && !whole.some((dir) => module.startsWith(dir)));
    assert.deepEqual(missing, [], `not embedded:\n${report}`);
    for (const worker of ["src/store/sqlite_writer.ts", "src/tracker/lease_worker.ts"]) {
      assert.ok(embedded.has(worker), `${worker} is not embedded`);
    }
    assert.ok([...embedded].some((path) => path.startsWith("src/tracker/dashboard/assets/")), "the dashboard's files");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
