/** Imports flow one way (shared/STYLE.md): checked on the real module graph, not by convention. */
import assert from "node:assert/strict";
import { REPO } from "../testing/process.ts";

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

Deno.test("each part of src/ imports only the parts below it", async () => {
  const output = await new Deno.Command(Deno.execPath(), { args: ["info", "--json", "main.ts"], cwd: REPO }).output();
  assert.equal(output.code, 0, new TextDecoder().decode(output.stderr));
  const graph = JSON.parse(new TextDecoder().decode(output.stdout)) as {
    modules: Array<{ specifier: string; dependencies?: Array<{ code?: { specifier: string } }> }>;
  };
  const part = (specifier: string) => specifier.match(/\/src\/([a-z_]+)\//)?.[1];
  const violations: string[] = [];
  let edges = 0;
  for (const module of graph.modules) {
    const from = part(module.specifier);
    if (!from) continue;
    assert.ok(from in ALLOWED, `unknown part src/${from}`);
    for (const dep of module.dependencies ?? []) {
      const to = dep.code?.specifier ? part(dep.code.specifier) : undefined;
      if (!to || to === from) continue;
      edges++;
      if (!ALLOWED[from].includes(to)) violations.push(`${module.specifier} -> ${dep.code!.specifier}`);
    }
  }
  assert.ok(edges > 10, "the graph was read");
  assert.deepEqual(violations, []);
});
