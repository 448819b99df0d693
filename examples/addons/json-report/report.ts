/**
 * json-report: reads the outputs of the tasks this one needs (fabric writes each to
 * .fabric/needs/NAME.json beside $FABRIC_OUTPUT, and names it in FABRIC_NEEDS_NAME) and turns them
 * into Markdown: a table of each output's top-level fields, or its JSON when it is not a mapping.
 * No imports: a task without the network cannot fetch any.
 */
import { render } from "./render.ts";

const params = JSON.parse(await Deno.readTextFile(Deno.env.get("FABRIC_WITH_FILE")!)) as {
  title?: string;
  file?: string;
};
const outputFile = Deno.env.get("FABRIC_OUTPUT")!;
const needsDir = outputFile.replace(/[^/]*$/, "needs");
const outputs: Array<{ name: string; output: unknown }> = [];
try {
  for await (const entry of Deno.readDir(needsDir)) {
    if (!entry.isFile || !entry.name.endsWith(".json")) continue;
    const output = JSON.parse(await Deno.readTextFile(`${needsDir}/${entry.name}`));
    outputs.push({ name: entry.name.slice(0, -".json".length), output });
  }
} catch (error) {
  if (!(error instanceof Deno.errors.NotFound)) throw error;
}
outputs.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
const markdown = render(params.title ?? "Report", outputs);
await Deno.writeTextFile(params.file ?? "report.md", markdown);
await Deno.writeTextFile(outputFile, JSON.stringify({ markdown }) + "\n");
console.log(markdown);
