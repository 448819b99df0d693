/**
 * The README's first commands on a machine with Deno and nothing else: a PATH without bubblewrap and
 * git. The demo ends by itself, `submit --wait` says why its task waits and
 * gives up at its --timeout, an agent says what it lacks, and the test runner skips what needs it.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { descendantPids } from "../src/exec/mod.ts";
import type { JobDetail } from "../src/protocol/mod.ts";
import { Cluster } from "../testing/cluster.ts";
import { pathWithout } from "../testing/machine.ts";
import { Daemon, REPO, waitFor } from "../testing/process.ts";

const BWRAP_INSTALL = "sudo apt-get install bubblewrap (Fedora: sudo dnf install bubblewrap)";

async function withTempDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await Deno.makeTempDir({ prefix: "fabric-fresh-" });
  try {
    return await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

function deno(args: string[], env: Record<string, string>): Deno.ChildProcess {
  return new Deno.Command(Deno.execPath(), { args, env, cwd: REPO, stdin: "null", stdout: "piped", stderr: "piped" })
    .spawn();
}

/** Processes whose command line names `text` (the demo's tracker and agents name its directory). */
function processesNaming(text: string): number[] {
  const pids: number[] = [];
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    try {
      if (Deno.readTextFileSync(`/proc/${entry.name}/cmdline`).includes(text)) pids.push(Number(entry.name));
    } catch { /* gone */ }
  }
  return pids;
}

/** Kills `child` and everything it started (a demo that hangs leaves its tracker and agents otherwise). */
function killTree(child: Deno.ChildProcess): void {
  for (const pid of [child.pid, ...descendantPids(child.pid)]) {
    try {
      Deno.kill(pid, "SIGKILL");
    } catch { /* gone */ }
  }
}

async function finish(child: Deno.ChildProcess, timeoutMs: number) {
  const timer = setTimeout(() => killTree(child), timeoutMs);
  const output = await child.output();
  clearTimeout(timer);
  const decode = (b: Uint8Array) => new TextDecoder().decode(b);
  return { code: output.code, stdout: decode(output.stdout), stderr: decode(output.stderr) };
}

Deno.test("without bubblewrap or git the demo says so, runs its tasks unsandboxed and ends by itself", async () => {
  await withTempDir(async (dir) => {
    const bin = await pathWithout(dir, ["bwrap", "git"]);
    const started = Date.now();
    const demo = await finish(deno(["run", "-A", "examples/demo.ts"], { PATH: bin }), 150_000);
    const all = demo.stdout + demo.stderr;
    assert.equal(demo.code, 0, all);
    assert.match(
      all,
      /bubblewrap is not installed \("bwrap" is not in PATH\).*install it: sudo apt-get install bubblewrap/,
    );
    assert.match(all, /the demo's tasks run unsandboxed \(sandbox: false\) on these two loopback agents/);
    assert.match(all, /job \S+ succeeded in/);
    assert.match(all, /demo succeeded; everything stopped and (\S+) removed/);
    const root = all.match(/fabric demo in (\S+)/)![1];
    assert.equal(exists(root), false, "its directory (CA key, tokens) is removed");
    assert.ok(Date.now() - started < 120_000);
  });
});

Deno.test("Ctrl-C stops the demo, its tracker and agents, and removes its directory", async () => {
  const child = deno(["run", "-A", "examples/demo.ts"], {});
  let text = "";
  const reading = (async () => {
    for await (const part of child.stdout.pipeThrough(new TextDecoderStream())) text += part;
  })();
  const errors = new Response(child.stderr).text();
  try {
    const root = await waitFor("the demo's agents to join", () => text.includes("agent-1: joined") && text, {
      timeoutMs: 60_000,
    }).then((t) => t.match(/fabric demo in (\S+)/)![1]);
    assert.ok(exists(join(root, "tracker", "ca.key")));
    child.kill("SIGINT");
    const status = await child.status;
    await reading;
    assert.equal(status.code, 130, text + (await errors));
    assert.match(await errors, /demo interrupted \(SIGINT\)/);
    assert.equal(exists(root), false, "the directory with the CA key and tokens is gone");
    assert.deepEqual(processesNaming(root), [], "its tracker and agents are stopped");
  } finally {
    killTree(child);
    await child.status;
  }
});

Deno.test("submit --wait says why its task waits, again when that changes, and gives up at --timeout with exit code 4", async () => {
  const cluster = await Cluster.start();
  let submit: Daemon | null = null;
  try {
    const file = await cluster.writeFile("boxed.yaml", "name: boxed\ntasks:\n  - {name: t, run: echo hi}\n");
    // A long --timeout for the reasons (a loaded machine starts deno and agents slowly); a short one below.
    submit = new Daemon("submit", ["submit", "--wait", "--timeout", "90s", file], cluster.clientEnv);
    const begun = Date.now();
    // No agent at all: nobody can run it.
    await submit.waitForOutput(/no current agent can run task \S+ "t": no agent is ready\n/, 30_000);
    assert.ok(Date.now() - begun >= 2_500, "not before it has waited a few seconds");
    const bin = await pathWithout(cluster.root, ["bwrap", "git"]);
    const agent = cluster.startAgent({ name: "fresh", env: { PATH: bin } });
    // The agent says at start what it will not be given, and how to install what it lacks.
    await agent.waitForOutput(/agent fresh joined/, 60_000);
    const said = agent.stderr;
    assert.match(
      said,
      new RegExp(
        `bubblewrap is not installed \\("bwrap" is not in PATH\\): sandboxed tasks \\(the default\\) will not be placed on this agent; install it: ${
          BWRAP_INSTALL.replace(/[()]/g, "\\$&")
        }, then restart the agent`,
      ),
    );
    assert.match(
      said,
      /git is not installed: git tasks will not be placed on this agent; install it: sudo apt-get install git/,
    );
    // The reason changed: said again, with what to do.
    const changed = await submit.waitForOutput(
      /no current agent can run task (\S+) "t": no ready agent can sandbox tasks \(bubblewrap\)\n {2}hint: an agent needs bubblewrap for sandboxed tasks \(the default\): (.*)\n/,
      30_000,
    );
    assert.match(changed[2], /sudo apt-get install bubblewrap/);
    // The same reason as status gives.
    const job = await cluster.json<JobDetail>(["status", changed[1].replace(/\.\d+$/, "")]);
    assert.equal(job.tasks[0].reason, "no ready agent can sandbox tasks (bubblewrap)");

    await submit.stop("SIGKILL");

    // --timeout gives up with its own exit code and says the job goes on.
    const quick = await cluster.cli(["submit", "--wait", "--timeout", "2s", file], { timeoutMs: 60_000 });
    assert.equal(quick.code, 4, quick.stderr);
    assert.match(
      quick.stderr,
      /gave up waiting after 2\.00s \(--timeout\): job (\S+) goes on \(queued, 0\/1 succeeded, 1 queued\); fabric cancel \1 stops it/,
    );
  } finally {
    await submit?.stop("SIGKILL");
    await cluster.stop();
  }
});

Deno.test("deno task test without bubblewrap skips what needs it and says so in its summary; CI's FABRIC_TEST_REQUIRE=all fails at once", async () => {
  await withTempDir(async (dir) => {
    const bin = await pathWithout(dir, ["bwrap", "git"]);
    const fixtures = ["testing/fixtures/lacks_fixture.ts", "testing/fixtures/lacks_file_fixture.ts"];
    const args = ["run", "-A", "testing/run_tests.ts", ...fixtures];
    // A developer's run, even inside CI's (which sets FABRIC_TEST_REQUIRE=all for the suite around this test).
    const run = await finish(deno(args, { PATH: bin, FABRIC_TEST_REQUIRE: "" }), 120_000);
    assert.equal(run.code, 0, run.stdout + run.stderr);
    assert.match(
      run.stderr,
      /This machine lacks bubblewrap \(sandboxed tasks\), git \(git tasks\)(, .*)?: the tests that need it/,
    );
    const summary = run.stdout.slice(run.stdout.indexOf("Skipped")).split("\n");
    const install = summary.indexOf("To run them, install:");
    assert.deepEqual(summary.slice(0, install), [
      "Skipped 5 test(s):",
      "  1 needs bubblewrap (sandboxed tasks), which this machine lacks:",
      "    ./testing/fixtures/lacks_fixture.ts",
      '      "needs bubblewrap"',
      "  1 needs bubblewrap (sandboxed tasks) and git (git tasks), which this machine lacks:",
      "    ./testing/fixtures/lacks_fixture.ts",
      '      "needs git and bubblewrap"',
      "  2 need git (git tasks), which this machine lacks:",
      "    ./testing/fixtures/lacks_file_fixture.ts",
      '      "needs git, as the whole file says"',
      '      "needs git too"',
      "  1 ignored by the test itself:",
      "    ./testing/fixtures/lacks_fixture.ts",
      '      "ignored for its own reason"',
    ]);
    // What else this machine lacks (cgroups, say) is listed too.
    const advice = summary.slice(install + 1, -2);
    assert.ok(advice.includes(`  bubblewrap (sandboxed tasks): ${BWRAP_INSTALL}`), advice.join("\n"));
    assert.ok(advice.includes("  git (git tasks): sudo apt-get install git (Fedora: sudo dnf install git)"));
    assert.deepEqual(summary.slice(-2), ["tests: 1 passed, 0 failed, 5 skipped", ""]);

    const started = Date.now();
    const ci = await finish(deno(args, { PATH: bin, FABRIC_TEST_REQUIRE: "all" }), 120_000);
    assert.equal(ci.code, 1);
    assert.match(ci.stderr, /FABRIC_TEST_REQUIRE forbids skipping tests, but this machine lacks:\n {2}bubblewrap/);
    assert.match(ci.stderr, /sudo apt-get install bubblewrap/);
    assert.doesNotMatch(ci.stdout + ci.stderr, /runs anywhere/, "no test ran");
    // At once: a probe and no test (a loaded machine takes seconds to start deno at all).
    assert.ok(Date.now() - started < 30_000);
  });
});
