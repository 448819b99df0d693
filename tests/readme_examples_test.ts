/**
 * The job files the README and docs/job-file.md show work as written: each ```yaml block is parsed by
 * the real parser, and those that need nothing outside this machine (no git remote, no files of the
 * submitter's, no network, no schedule) run on a real agent and succeed. A broken example fails here.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { type JobSpec, parseJobFile } from "../src/protocol/mod.ts";
import { Cluster } from "../testing/cluster.ts";
import { Origin, startDaemon } from "../testing/git_servers.ts";
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

Deno.test({
  name:
    "the README's first job file is examples/build/job.yaml, and it runs as written (its docs repository on loopback)",
  ignore: lacks("bwrap") || lacks("git") || lacks("cgroup") || lacks("deno"),
}, async () => {
  const file = await Deno.readTextFile(join(REPO, "examples/build/job.yaml"));
  const shown = (await examples()).find((example) => example.where.startsWith("README.md"));
  assert.equal(shown?.text, file.replace(/\n$/, ""), "the README shows examples/build/job.yaml as it is");
  const cluster = await Cluster.start({ agents: [{ name: "builder", slots: 4 }] });
  const daemon = await startDaemon(cluster.root);
  try {
    const docs = await Origin.create(cluster.root, "docs");
    await docs.commit({ Makefile: "html:\n\tmkdir -p _site && echo docs > _site/index.html\n" }, "docs");
    // The example's folder as a submitter has it, its docs repository one this test serves.
    const folder = join(cluster.root, "build");
    await new Deno.Command("cp", { args: ["-a", join(REPO, "examples/build"), folder] }).output();
    const repo = "https://github.com/acme/docs.git";
    assert.ok(file.includes(repo));
    await Deno.writeTextFile(join(folder, "job.yaml"), file.replace(repo, daemon.url("docs")));
    const result = await cluster.cli(["submit", join(folder, "job.yaml"), "--wait", "--json"], { timeoutMs: 120_000 });
    const job = JSON.parse(result.stdout || "{}") as {
      id?: string;
      state?: string;
      tasks?: Array<{ name: string; state: string }>;
    };
    assert.equal(result.code, 0, `${result.stderr}\n${JSON.stringify(job.tasks)}`);
    assert.deepEqual(
      job.tasks?.map((t) => `${t.name} ${t.state}`).sort(),
      [
        "compile succeeded",
        "docs succeeded",
        "report succeeded",
        "unit[shard=0] succeeded",
        "unit[shard=1] succeeded",
        "unit[shard=2] succeeded",
      ],
    );
    const report = await cluster.cli(["logs", job.id ?? ""]);
    assert.match(report.stdout, /report: 3 unit shard\(s\) done/);
    assert.match(report.stdout, /shard 2: ok \(carol\)/);

    // A git task's files are put in its checkout; one the repository has too fails it, named.
    const gitFiles = [
      "name: git-files",
      "files: [test.sh]",
      "tasks:",
      `  - {name: both, git: {repo: "${
        daemon.url("docs")
      }", ref: main}, steps: ["test -f Makefile && test -x test.sh"]}`,
      `  - {name: clash, files: [Makefile], git: {repo: "${daemon.url("docs")}", ref: main}, steps: ["true"]}`,
    ].join("\n");
    await Deno.writeTextFile(join(folder, "git-files.yaml"), gitFiles + "\n");
    const second = await cluster.cli(["submit", join(folder, "git-files.yaml"), "--wait", "--json"]);
    const ended = JSON.parse(second.stdout || "{}") as {
      tasks?: Array<{ name: string; state: string; reason: string }>;
    };
    const byName = new Map(ended.tasks?.map((t) => [t.name, t]));
    assert.equal(byName.get("both")?.state, "succeeded", second.stdout);
    assert.equal(byName.get("clash")?.state, "failed", second.stdout);
    assert.match(byName.get("clash")?.reason ?? "", /the job's files cannot be put in the checkout .*Makefile/);
  } finally {
    await daemon.stop();
    await cluster.stop();
  }
});
