/**
 * `files:` end to end: a project's files packed by `fabric submit`, uploaded to a real tracker over TLS,
 * fetched by a real agent and unpacked into the task's (sandboxed) directory; and what submit refuses.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { join } from "node:path";
import type { JobDetail } from "../src/protocol/mod.ts";
import { Cluster } from "../testing/cluster.ts";
import { lacks } from "../testing/machine.ts";
import { RawApi } from "../testing/raw_api.ts";
import { withHotCluster } from "../testing/hot_cluster.ts";

async function write(root: string, files: Record<string, string>): Promise<void> {
  for (const [name, text] of Object.entries(files)) {
    await Deno.mkdir(join(root, name, ".."), { recursive: true });
    await Deno.writeTextFile(join(root, name), text);
  }
}

async function git(dir: string, ...args: string[]): Promise<void> {
  const env = { GIT_AUTHOR_NAME: "t", GIT_AUTHOR_EMAIL: "t@t", GIT_COMMITTER_NAME: "t", GIT_COMMITTER_EMAIL: "t@t" };
  const out = await new Deno.Command("git", { args: ["-C", dir, ...args], env, stdout: "null", stderr: "piped" })
    .output();
  assert.ok(out.success, new TextDecoder().decode(out.stderr));
}

const MAKEFILE = `out/greeting.txt: src/hello.txt src/name.txt
\tmkdir -p out
\tcat src/hello.txt src/name.txt > out/greeting.txt
`;

Deno.test({
  name: "a Makefile project submitted from its folder builds on an agent, with what .gitignore leaves out left behind",
  // make is a tool of the project under test, not of fabric: .ci/run installs it.
  ignore: lacks("bwrap", "git") || !hasMake(),
}, async () => {
  const cluster = await Cluster.start({ agents: [{ name: "builder" }] });
  try {
    const project = join(cluster.root, "project");
    await write(project, {
      "Makefile": MAKEFILE,
      "src/hello.txt": "hello, ",
      "src/name.txt": "world\n",
      "tools/check.sh": "#!/bin/sh\ntest ! -e secret.env && test ! -e build.log && echo checked\n",
      ".gitignore": "secret.env\n*.log\n",
      "secret.env": "TOKEN=do-not-ship\n",
      "build.log": "noise\n",
      "job.yaml": `name: make
files: [Makefile, src/, "tools/*.sh"]
tasks:
  - name: build
    run: make && cat out/greeting.txt && ./tools/check.sh
`,
    });
    await Deno.chmod(join(project, "tools/check.sh"), 0o755);
    await git(project, "init", "-q");
    const result = await cluster.cli(["submit", join(project, "job.yaml"), "--wait", "--json"], { timeoutMs: 60_000 });
    assert.equal(result.code, 0, `${result.stderr}\n${result.stdout}`);
    assert.match(result.stderr, /packed 4 file\(s\), [\d.]+ ?[KMG]i?B? for task\(s\) build/);
    const job = JSON.parse(result.stdout) as JobDetail;
    const logs = await cluster.cli(["logs", job.tasks[0].id]);
    assert.match(logs.stdout, /hello, world\nchecked\n/);

    // The same files again: the tracker holds the pack already, and the job runs the same.
    const again = await cluster.cli(["submit", join(project, "job.yaml"), "--wait"], { timeoutMs: 60_000 });
    assert.equal(again.code, 0, again.stderr);

    // --no-ignore ships what .gitignore leaves out: the check sees it.
    await write(project, { "job.yaml": `name: all\nfiles: ["."]\ntasks:\n  - name: t\n    run: ./tools/check.sh\n` });
    const all = await cluster.cli(["submit", join(project, "job.yaml"), "--wait", "--no-ignore"], {
      timeoutMs: 60_000,
    });
    assert.equal(all.code, 1, all.stderr);
    assert.match(all.stderr, /packed 8 file\(s\)/);
  } finally {
    await cluster.stop();
  }
});

Deno.test("fabric submit refuses files outside the folder, links that leave it, a pack over --max-pack, a pattern matching nothing", async () => {
  const cluster = await Cluster.start();
  try {
    const project = join(cluster.root, "project");
    await write(project, { "a.txt": "a\n", "big.bin": "x".repeat(64 * 1024) });
    await write(cluster.root, { "outside.txt": "secret\n" });
    await Deno.symlink(join(cluster.root, "outside.txt"), join(project, "leak.txt"));
    const job = (files: string) => `name: f\nfiles: ${files}\ntasks:\n  - name: t\n    run: "true"\n`;
    const cases: Array<[string, string[], RegExp]> = [
      [`["../outside.txt"]`, [], /"files": "\.\.\/outside\.txt" is outside the job file's folder .*--allow-outside/],
      [`[leak.txt]`, [], /"leak\.txt" is a link to ".*outside\.txt", outside the job file's folder/],
      [`["*.txt"]`, [], /is a link to .*outside/],
      [`[big.bin]`, ["--max-pack", "1K"], /hold more than 1024 bytes .*--max-pack/],
      [`["*.md"]`, [], /"\*\.md" matches no file/],
    ];
    for (const [files, flags, message] of cases) {
      await write(project, { "job.yaml": job(files) });
      const result = await cluster.cli(["submit", join(project, "job.yaml"), ...flags]);
      assert.equal(result.code, 2, `${files}: ${result.stderr}`);
      assert.match(result.stderr, message, files);
      assert.match(result.stderr, /job\.yaml": line 2, column \d+/, files);
    }
    const listed = await cluster.json<Array<unknown>>(["status"]);
    assert.equal(listed.length, 0, "nothing was submitted");
    // Named with --allow-outside, the file outside ships (as "outside.txt").
    await write(project, { "job.yaml": job(`["../outside.txt"]`) });
    const allowed = await cluster.cli(["submit", join(project, "job.yaml"), "--allow-outside"]);
    assert.equal(allowed.code, 0, allowed.stderr);
  } finally {
    await cluster.stop();
  }
});

Deno.test("an upload whose chunks do not hash to its name is dropped; a stored blob's chunks never change; a job's missing pack is refused", async () => {
  const cluster = await Cluster.start();
  const api = await RawApi.of(cluster);
  try {
    const token = cluster.adminToken;
    const good = new TextEncoder().encode("the real files\n");
    const sha = createHash("sha256").update(good).digest("hex");
    const forged = new TextEncoder().encode("something else!");
    assert.equal((await api.request("PUT", `/v1/blobs/${sha}/chunks/0`, token, forged)).status, 200);
    const refused = await api.request("POST", `/v1/blobs/${sha}`, token, { size: forged.length });
    assert.equal(refused.status, 400, refused.text);
    assert.match(refused.text, /hash to [0-9a-f]{64}; upload it again/);
    assert.equal((await api.request("GET", `/v1/blobs/${sha}`, token)).status, 404);
    // Dropped: the real chunk now goes in, and the blob is kept.
    assert.equal((await api.request("PUT", `/v1/blobs/${sha}/chunks/0`, token, good)).status, 200);
    assert.equal((await api.request("POST", `/v1/blobs/${sha}`, token, { size: good.length })).status, 200);
    assert.equal((await api.request("PUT", `/v1/blobs/${sha}/chunks/0`, token, forged)).status, 200);
    assert.equal((await api.request("GET", `/v1/blobs/${sha}/chunks/0`, token)).text, "the real files\n");

    const spec = { name: "j", files: ["a"], tasks: [{ name: "t", run: "true" }] };
    const missing = await api.request("POST", "/v1/jobs", token, { spec });
    assert.equal(missing.status, 400);
    assert.match(missing.text, /task \\"t\\" names files, and no pack of them was sent/);
    const absent = { sha256: "0".repeat(64), size: 10 };
    const gone = await api.request("POST", "/v1/jobs", token, { spec, packs: { t: absent } });
    assert.equal(gone.status, 400);
    assert.match(gone.text, /were not uploaded, or are gone/);
    assert.equal((await cluster.json<Array<unknown>>(["status"])).length, 0);
  } finally {
    api.close();
    await cluster.stop();
  }
});

Deno.test({
  name: "a script task split across files runs: its relative imports are followed at submit and shipped with it",
  ignore: lacks("bwrap", "deno"),
}, async () => {
  const cluster = await Cluster.start({ agents: [{ name: "runner" }] });
  try {
    const project = join(cluster.root, "project");
    await write(project, {
      "tools/main.ts": `import { greet } from "./lib/greet.ts";\nconsole.log(greet());\n`,
      "tools/lib/greet.ts":
        `import { NAMES } from "../../shared/names.ts";\nexport const greet = () => "hello " + NAMES.join(" and ");\n`,
      "shared/names.ts": `export const NAMES = ["ada", "grace"];\n`,
      "shared/unused.ts": `export const nothing = 1;\n`,
      "job.yaml": `name: split\ntasks:\n  - name: main\n    script: tools/main.ts\n`,
    });
    const result = await cluster.cli(["submit", join(project, "job.yaml"), "--wait", "--json"], { timeoutMs: 90_000 });
    assert.equal(result.code, 0, `${result.stderr}\n${result.stdout}`);
    assert.match(result.stderr, /packed 3 file\(s\)/, "the entry and the two modules it imports, not the rest");
    const job = JSON.parse(result.stdout) as JobDetail;
    assert.equal((await cluster.cli(["logs", job.tasks[0].id])).stdout, "hello ada and grace\n");

    // An import that leaves the folder, or names no file, is refused at submit with the script's line.
    await write(project, { "tools/lib/greet.ts": `import "../../../outside.ts";\n` });
    const outside = await cluster.cli(["submit", join(project, "job.yaml")]);
    assert.equal(outside.code, 2, outside.stderr);
    assert.match(
      outside.stderr,
      /line 4, column \d+: "tasks\[0\]\.script": "tools\/lib\/greet\.ts" imports "\.\.\/\.\.\/\.\.\/outside\.ts", outside/,
    );
    await write(project, { "tools/lib/greet.ts": `export * from "./missing.ts";\n` });
    const missing = await cluster.cli(["submit", join(project, "job.yaml")]);
    assert.equal(missing.code, 2, missing.stderr);
    assert.match(missing.stderr, /imports "\.\/missing\.ts", and "tools\/lib\/missing\.ts" does not exist/);
  } finally {
    await cluster.stop();
  }
});

Deno.test({
  name: "trackers sharing PostgreSQL share packs: files uploaded through a follower reach an agent of the leader",
  ignore: lacks("postgres", "bwrap"),
  fn: () =>
    withHotCluster({ trackers: 2, lease: "5000ms" }, async (cluster) => {
      assert.equal(await cluster.leads(0), 1);
      cluster.startAgent({ name: "a1", joinTrackers: [0] });
      const project = join(cluster.root, "project");
      // Over one chunk (4 MiB), so that the follower forwards several.
      const data = new Uint8Array(5 * 1024 * 1024).map((_, i) => (i * 7) % 256);
      await Deno.mkdir(project);
      await Deno.writeFile(join(project, "data.bin"), data);
      const sum = createHash("sha256").update(data).digest("hex");
      await write(project, {
        "job.yaml": `name: shared\nfiles: [data.bin]\ntasks:\n  - name: t\n    run: sha256sum data.bin\n`,
      });
      const result = await cluster.cli(1, ["submit", join(project, "job.yaml"), "--wait", "--json"], {
        timeoutMs: 90_000,
      });
      assert.equal(result.code, 0, result.stderr);
      const job = JSON.parse(result.stdout) as JobDetail;
      assert.equal((await cluster.cli(0, ["logs", job.tasks[0].id])).stdout, `${sum}  data.bin\n`);
    }),
});

function hasMake(): boolean {
  const found = ["/usr/bin/make", "/bin/make", "/usr/local/bin/make"].some((path) => {
    try {
      return Deno.statSync(path).isFile;
    } catch {
      return false;
    }
  });
  if (!found) {
    console.error("files_e2e_test: make is not installed (sudo apt-get install make): the Makefile test is skipped");
  }
  return found;
}
