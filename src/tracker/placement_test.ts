import assert from "node:assert/strict";
import { type Candidate, pickLeastLoaded } from "./placement.ts";

function agent(name: string, used: number, slots: number, load1 = 0): Candidate {
  return { id: name, name, used, slots, load1 };
}

Deno.test("the agent with the smallest share of busy slots wins", () => {
  const picked = pickLeastLoaded([agent("a", 2, 4), agent("b", 1, 4), agent("c", 3, 8)]);
  assert.equal(picked?.name, "b");
});

Deno.test("equal shares are broken by load average, then by name", () => {
  assert.equal(pickLeastLoaded([agent("a", 1, 2, 0.9), agent("b", 2, 4, 0.1)])?.name, "b");
  assert.equal(pickLeastLoaded([agent("b", 0, 2), agent("a", 0, 2)])?.name, "a");
});

Deno.test("full agents are never picked", () => {
  assert.equal(pickLeastLoaded([agent("a", 2, 2), agent("b", 1, 1)]), null);
  assert.equal(pickLeastLoaded([agent("a", 2, 2), agent("b", 0, 1, 9)])?.name, "b");
});
