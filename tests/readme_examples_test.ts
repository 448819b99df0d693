/**
 * The job files the README and docs/job-file.md show work as written: each ```yaml block is parsed by
 * the real parser, and those that need nothing outside this machine (no git remote, no files of the
 * submitter's, no network, no schedule) run on a real agent and succeed. A broken example fails here.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { type JobSpec, parseJobFile } from "../src/protocol/mod.ts";
import { Cluster } from "../testing/cluster.ts";
import { REPO } from "../testing/process.ts";
import { lacks } from "../testing/machine.ts";

const DOCS = ["README.md", "docs/job-file.md"];

interface Example {
  where: string;
  text: string;
}

/** Every ```yaml block of the docs, with the file and line it starts at. */
async function examples(): Promise<Example[]> {
  const found: Example[] = [];
  for (const doc of DOCS) {
    const lines = (await Deno.readTextFile(join(REPO, doc))).split("\n");
    for (let i = 0; i < lines.length; i++) {
      if (lines[i].trim() !== "```yaml") continue;
      const end = lines.findIndex((line, j) => j > i && line.trim() === "```");
      assert.ok(end > i, `${doc}:${i + 1}: a yaml block that does not end`);
      found.push({ where: `${doc}:${i + 1}`, text: lines.slice(i + 1, end).join("\n") });
      i = end;
    }
  }
  return found;
}

/** Whether a job runs with nothing outside this machine: no git remote, shipped files, network or schedule. */
function selfContained(spec: JobSpec): boolean {
  const outside = (t: Partial<JobSpec["tasks"][number]>) =>
    t.files !== undefined || t.secrets !== undefined || t.constraints !== undefined || t.agents !== undefined ||
    (t.permissions?.net !== undefined && t.permissions.net !== false);
  return spec.schedule === undefined && !outside(spec) &&
    spec.tasks.every((t) => !outside(t) && t.git === undefined && t.script === undefined);
}

Deno.test("every yaml example of the README and docs/job-file.md is a valid job file", async () => {
  const all = await examples();
  assert.ok(all.length >= 4, `found ${all.length} examples`);
  for (const example of all) {
    await parseJobFile(example.text, example.where).catch((error) => {
      throw new Error(`${example.where}: ${error.message}`);
    });
  }
});

Deno.test({
  name: "the yaml examples that need nothing outside this machine run as written and succeed",
  ignore: lacks("bwrap"),
}, async () => {
  const runnable: Example[] = [];
  for (const example of await examples()) {
    if (selfContained((await parseJobFile(example.text, example.where)).spec)) runnable.push(example);
  }
  assert.ok(runnable.length >= 1, "at least the pipeline example runs");
  const cluster = await Cluster.start({ agents: [{ name: "docs", slots: 4 }] });
  try {
    for (const [i, example] of runnable.entries()) {
      const file = await cluster.writeFile(`example-${i}.yaml`, example.text);
      const result = await cluster.cli(["submit", file, "--wait", "--json"], { timeoutMs: 60_000 });
      const job = JSON.parse(result.stdout || "{}");
      assert.equal(result.code, 0, `${example.where}: ${result.stderr}\n${JSON.stringify(job.tasks)}`);
    }
  } finally {
    await cluster.stop();
  }
});
