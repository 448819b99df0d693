import assert from "node:assert/strict";
import { reportBody } from "./report_body.ts";

const expected = (events: string[]) => new TextEncoder().encode(`{"events":[${events.join(",")}]}`);

Deno.test("a report's body is the UTF-8 of its events joined, whatever characters they hold", () => {
  const cases: string[][] = [
    [],
    ['{"a":1}'],
    ['{"a":1}', '{"b":"x"}', "{}"],
    [JSON.stringify({ data: "é日本😀" }), JSON.stringify({ data: "x".repeat(1000) })],
    [JSON.stringify({ data: "x".repeat(1000) }), JSON.stringify({ data: "😀".repeat(500) }), '{"c":3}'],
    [JSON.stringify({ data: "\ud800 lone" }), JSON.stringify({ data: '\n\t"\\' })],
    ["x\ud800y", "\udc00", "😀\ud83d"], // lone surrogates, which TextEncoder writes as U+FFFD
    Array.from({ length: 50 }, (_, i) => "é".repeat(i * 10)), // grown again and again
    ["é".repeat(100), "x".repeat(400)], // grown, then an ASCII event fills it to the end
  ];
  for (const events of cases) assert.deepEqual(reportBody(events), expected(events), events.join(",").slice(0, 40));
});
