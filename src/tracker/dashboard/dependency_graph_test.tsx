import assert from "node:assert/strict";
import { DependencyGraph, layers } from "./dependency_graph.tsx";

Deno.test("a task is drawn one layer right of the deepest task it needs", () => {
  const tasks = [
    { name: "deploy", needs: ["test", "lint"] },
    { name: "checkout" },
    { name: "build", needs: ["checkout"] },
    { name: "test", needs: ["build", "build"] },
    { name: "lint", needs: ["checkout"] },
  ];
  assert.deepEqual(layers(tasks), [3, 0, 1, 2, 1]);
});

Deno.test("a chain of 10,000 needs is layered without recursion", () => {
  const tasks = Array.from({ length: 10_000 }, (_, i) => ({ name: `t${i}`, needs: i > 0 ? [`t${i - 1}`] : [] }));
  assert.equal(layers(tasks)[9_999], 9_999);
});

Deno.test("the graph is SVG when small, a layered list when larger, and only described past that", async () => {
  const chain = (n: number) =>
    Array.from({ length: n }, (_, i) => ({ name: `t${i}`, needs: i > 0 ? [`t${i - 1}`] : [] }));
  const render = async (n: number) => String(await <DependencyGraph tasks={chain(n)} progress={null} />);
  assert.match(await render(3), /<svg class="graph-svg"[^]*<path class="edge"/);
  assert.match(await render(100), /<ol class="layers">/);
  assert.match(await render(1000), /1000 tasks with needs: too many to draw/);
  assert.equal(String(await <DependencyGraph tasks={[{ name: "a" }]} progress={null} />), "", "no needs, no graph");
});
