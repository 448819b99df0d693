/**
 * Imports flow one way (shared/STYLE.md): checked on the real module graph of every file of src/,
 * tests/, bench/ and testing/ (`deno info`, type-only imports included), not by convention.
 */
import assert from "node:assert/strict";
import { dirname, join, relative } from "node:path";
import { pathToFileURL } from "node:url";
import { REPO } from "../testing/process.ts";

/** What each part of src/ may import. */
const ALLOWED: Record<string, string[]> = {
  protocol: [],
  tls: [],
  store: ["protocol"],
  exec: ["protocol"],
  client: ["protocol"],
  tracker: ["store", "protocol", "tls"],
  agent: ["exec", "client", "protocol", "tls"],
  cli: ["tracker", "agent", "client", "protocol", "tls"],
};

/** The folders checked, and the folders whose files reach src/ only through a part's mod.ts. */
const FOLDERS = ["src", "tests", "bench", "testing"];
const OUTSIDE_SRC = new Set(["tests", "bench", "testing"]);

interface Edge {
  /** Paths relative to the repository. */
  from: string;
  to: string;
  typeOnly: boolean;
}

/** Every .ts and .tsx file under FOLDERS, and main.ts (an explicit stack: no recursion over a tree). */
async function sourceFiles(): Promise<string[]> {
  const files = ["main.ts"];
  const pending = [...FOLDERS];
  for (let visited = 0; pending.length > 0 && visited < 10_000; visited++) {
    const dir = pending.pop()!;
    for await (const entry of Deno.readDir(join(REPO, dir))) {
      const path = `${dir}/${entry.name}`;
      if (entry.isDirectory && !entry.name.startsWith(".")) pending.push(path);
      else if (entry.isFile && /\.tsx?$/.test(entry.name)) files.push(path);
    }
  }
  return files.sort();
}

/** Every import between the repository's files, from one `deno info` over a module that imports them all. */
async function importGraph(): Promise<{ files: string[]; edges: Edge[] }> {
  const files = await sourceFiles();
  const dir = await Deno.makeTempDir({ prefix: "fabric-architecture-" });
  try {
    const root = join(dir, "all.ts");
    await Deno.writeTextFile(root, files.map((f) => `import "${pathToFileURL(join(REPO, f)).href}";\n`).join(""));
    const output = await new Deno.Command(Deno.execPath(), {
      args: ["info", "--json", "--config", join(REPO, "deno.json"), root],
      cwd: REPO,
    }).output();
    assert.equal(output.code, 0, new TextDecoder().decode(output.stderr));
    const graph = JSON.parse(new TextDecoder().decode(output.stdout)) as {
      modules: Array<{
        specifier: string;
        dependencies?: Array<{ code?: { specifier: string }; type?: { specifier: string } }>;
      }>;
    };
    const local = (specifier: string | undefined) => {
      if (!specifier?.startsWith("file://")) return null;
      const path = relative(REPO, new URL(specifier).pathname);
      return path.startsWith("..") ? null : path;
    };
    const edges: Edge[] = [];
    for (const module of graph.modules) {
      const from = local(module.specifier);
      if (!from) continue;
      for (const dep of module.dependencies ?? []) {
        const code = local(dep.code?.specifier);
        const type = local(dep.type?.specifier);
        if (code) edges.push({ from, to: code, typeOnly: false });
        if (type && type !== code) edges.push({ from, to: type, typeOnly: true });
      }
    }
    return { files, edges };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

let loaded: ReturnType<typeof importGraph> | null = null;
/** The graph, read once for every test of this file. */
function graph(): ReturnType<typeof importGraph> {
  return loaded ??= importGraph();
}

function partOf(path: string): string | null {
  return path.match(/^src\/([a-z_]+)\//)?.[1] ?? null;
}

/** Test code that lives in src/: unit tests beside the code, and a folder's private test helpers (`_testing.ts`). */
function isTestCode(path: string): boolean {
  return /_test\.tsx?$|\/_([a-z_]+_)?testing\.ts$/.test(path);
}

function describe(edge: Edge): string {
  return `${edge.from} -> ${edge.to}${edge.typeOnly ? " (type)" : ""}`;
}

/** A cycle in `edges`, as the files on it, or null. Peels off files without imports in or out, then walks what is left. */
function findCycle(edges: Edge[]): string[] | null {
  const out = new Map<string, Set<string>>();
  const into = new Map<string, Set<string>>();
  for (const { from, to } of edges) {
    if (!out.has(from)) out.set(from, new Set());
    if (!into.has(to)) into.set(to, new Set());
    out.get(from)!.add(to);
    into.get(to)!.add(from);
  }
  const nodes = new Set([...out.keys(), ...into.keys()]);
  const peel = [...nodes].filter((n) => !(into.get(n)?.size) || !(out.get(n)?.size));
  while (peel.length > 0) {
    const node = peel.pop()!;
    if (!nodes.delete(node)) continue;
    for (const next of out.get(node) ?? []) {
      into.get(next)!.delete(node);
      if (into.get(next)!.size === 0) peel.push(next);
    }
    for (const previous of into.get(node) ?? []) {
      out.get(previous)!.delete(node);
      if (out.get(previous)!.size === 0) peel.push(previous);
    }
  }
  if (nodes.size === 0) return null;
  // Every file left imports another one left: follow imports until one comes round again.
  const path: string[] = [];
  const seen = new Map<string, number>();
  let node = nodes.values().next().value!;
  while (!seen.has(node)) {
    seen.set(node, path.length);
    path.push(node);
    node = [...out.get(node)!].find((next) => nodes.has(next))!;
  }
  return [...path.slice(seen.get(node)), node];
}

Deno.test("each part of src/ imports only the parts below it, type-only imports included", async () => {
  const { edges } = await graph();
  const violations: string[] = [];
  let between = 0;
  for (const edge of edges) {
    const from = partOf(edge.from);
    const to = partOf(edge.to);
    if (!from || !to || from === to) continue;
    assert.ok(from in ALLOWED, `unknown part src/${from}`);
    between++;
    if (!ALLOWED[from].includes(to)) violations.push(describe(edge));
  }
  assert.ok(between > 10, "the graph was read");
  assert.ok(edges.some((e) => e.typeOnly), "type-only imports were read");
  assert.deepEqual(violations, []);
});

Deno.test("no import cycle: between parts of src/, or between any two files", async () => {
  const { edges } = await graph();
  const parts: Edge[] = [];
  for (const edge of edges) {
    const from = partOf(edge.from);
    const to = partOf(edge.to);
    if (from && to && from !== to) parts.push({ from, to, typeOnly: edge.typeOnly });
  }
  assert.deepEqual(findCycle(parts), null, "parts");
  assert.deepEqual(findCycle(edges), null, "files");
});

// A _private file is its folder's: files in that folder and below it may import it (exec/drivers/ uses exec's).
Deno.test("tests, bench and testing reach src/ through each part's mod.ts; no file reaches another folder's _private file", async () => {
  const { files, edges } = await graph();
  assert.ok(files.some((f) => f.startsWith("tests/")) && files.some((f) => f.startsWith("bench/")));
  const violations: string[] = [];
  for (const edge of edges) {
    const fromFolder = edge.from.split("/")[0];
    const toFolder = edge.to.split("/")[0];
    const file = edge.to.split("/").at(-1)!;
    if (file.startsWith("_") && !`${dirname(edge.from)}/`.startsWith(`${dirname(edge.to)}/`)) {
      violations.push(`${describe(edge)}: a private file of another folder`);
    } else if (OUTSIDE_SRC.has(fromFolder) && toFolder === "src" && !/^src\/[a-z_]+\/mod\.ts$/.test(edge.to)) {
      violations.push(`${describe(edge)}: not a part's mod.ts`);
    } else if ((fromFolder === "src" || fromFolder === "main.ts") && OUTSIDE_SRC.has(toFolder)) {
      // A unit test beside the code, or its folder's test helper, may use the shared test helpers;
      // nothing else in src/ may.
      if (!(toFolder === "testing" && isTestCode(edge.from))) {
        violations.push(`${describe(edge)}: src/ depends on test code`);
      }
    } else if (fromFolder === "src" && !isTestCode(edge.from) && isTestCode(edge.to)) {
      violations.push(`${describe(edge)}: src/ depends on test code`);
    } else if (fromFolder === "testing" && (toFolder === "tests" || toFolder === "bench")) {
      violations.push(`${describe(edge)}: testing/ serves tests and bench, it does not use them`);
    }
  }
  assert.deepEqual(violations, []);
});

Deno.test("the cycle finder finds a cycle through type-only imports, and none in a chain", () => {
  const edge = (from: string, to: string, typeOnly = false) => ({ from, to, typeOnly });
  assert.deepEqual(findCycle([edge("a", "b"), edge("b", "c"), edge("c", "d")]), null);
  assert.deepEqual(findCycle([edge("x", "a"), edge("a", "b"), edge("b", "a", true), edge("b", "y")]), ["a", "b", "a"]);
});
