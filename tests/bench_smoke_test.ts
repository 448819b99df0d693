/**
 * The bench runs end to end in its quick form and writes well-formed JSON with every figure present.
 * Nothing here judges a timing: this machine is shared, and the numbers are for people to read.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { type BenchReport, figure } from "../bench/report.ts";
import { REPO } from "../testing/process.ts";
import { lacks } from "../testing/machine.ts";

const WORKLOADS = ["B1", "B2", "B3", "B4", "B5", "B6"];

Deno.test({
  name: "deno task bench --quick runs every workload and writes a figure, baseline and spread for each",
  ignore: lacks("bwrap"),
}, async () => {
  await runBench([], async ({ stdout, stderr, report }) => {
    assert.equal(report.version, 1);
    assert.equal(report.options.quick, true);
    assert.deepEqual(report.workloads.map((w: { id: string }) => w.id), WORKLOADS);
    for (const workload of report.workloads) {
      assert.equal(workload.error, undefined, `${workload.id} failed: ${workload.error}`);
      assert.ok(workload.figures.length > 0, `${workload.id} has figures`);
      for (const f of workload.figures) {
        const where = `${workload.id} ${f.id}`;
        assert.match(f.id, /^b[1-6]\.[a-z0-9_]+$/, where);
        assert.ok(f.unit && f.name, where);
        assert.ok(["higher", "lower"].includes(f.better), where);
        for (const key of ["median", "min", "max"] as const) {
          assert.ok(Number.isFinite(f.value[key]), `${where} ${key}`);
        }
        assert.ok(f.value.samples.length >= 1, where);
        if (f.baseline !== null) {
          assert.ok(f.baseline.name, where);
          assert.ok(Number.isFinite(f.baseline.value.median), `${where} baseline`);
          assert.ok(f.ratio === null || Number.isFinite(f.ratio), `${where} ratio`);
        }
        if (f.target) assert.equal(typeof f.met, "boolean", `${where} met`);
      }
      assert.ok(stdout.includes(`${workload.id} `), `the table shows ${workload.id}`);
    }
    // Every process the bench started is gone: trackers, agents, simulators all name its scratch directory.
    const scratch = stderr.match(/scratch directory (\S+)/)?.[1];
    assert.ok(scratch, "the bench names its scratch directory");
    const leftovers = await processesMentioning(scratch);
    assert.deepEqual(leftovers, [], "processes left running by the bench");
  });
});

Deno.test({
  name: "deno task bench --store both runs a workload on SQLite then PostgreSQL, compares them, and stops PostgreSQL",
  ignore: lacks("postgres"),
  fn: async () => {
    await runBench(["--only", "B4", "--store", "both"], async ({ stdout, stderr, report }) => {
      assert.deepEqual(report.workloads.map((w) => [w.id, w.store]), [
        ["B4 sqlite", "sqlite"],
        ["B4 postgres", "postgres"],
      ]);
      const [sqlite, postgres] = report.workloads;
      assert.deepEqual(
        postgres.figures.map((f: { id: string }) => f.id),
        sqlite.figures.map((f: { id: string }) => f.id),
      );
      assert.match(
        stdout,
        /PostgreSQL against SQLite \(ratio = postgres ÷ sqlite\)\n.*\n {2}B4 submit \(client side\)/,
      );
      const scratch = stderr.match(/scratch directory (\S+)/)?.[1];
      assert.ok(scratch, "the bench names its scratch directory");
      assert.deepEqual(await processesMentioning(scratch), [], "processes left running by the bench (PostgreSQL too)");
    });
  },
});

Deno.test({
  name:
    "deno task bench --only B3 --store postgres --trackers 2 splits the fleet over a leader and a follower and reads both CPUs",
  ignore: lacks("postgres"),
  fn: async () => {
    await runBench(["--only", "B3", "--store", "postgres", "--trackers", "2"], async ({ stderr, report }) => {
      assert.equal(report.workloads.length, 1);
      const [b3] = report.workloads;
      assert.equal(b3.error, undefined, `B3 failed: ${b3.error}`);
      const byId = Object.fromEntries(b3.figures.map((f) => [f.id, f]));
      assert.deepEqual(Object.keys(byId).sort(), [
        "b3.two_trackers_follower_cpu",
        "b3.two_trackers_heartbeat_p99",
        "b3.two_trackers_leader_cpu",
        "b3.two_trackers_max_agents",
      ]);
      // The quick ladder's last step (60 agents, 30 on each) was reached, every agent ready at the leader (its
      // rates over 1.5 s windows are too noisy to judge: no timing is judged here).
      assert.match(b3.notes.join("\n"), /N=60\b.*, 60 ready at the leader/);
      for (const id of ["b3.two_trackers_leader_cpu", "b3.two_trackers_follower_cpu"]) {
        assert.ok(byId[id].value.median > 0, `${id}: the tracker's CPU was read`);
      }
      const scratch = stderr.match(/scratch directory (\S+)/)?.[1];
      assert.ok(scratch, "the bench names its scratch directory");
      assert.deepEqual(await processesMentioning(scratch), [], "processes left running by the bench");
    });
  },
});

/** `deno task bench --quick --runs 1 ARGS`, which must succeed; `check` gets its output and its JSON report. */
async function runBench(
  args: string[],
  check: (run: { stdout: string; stderr: string; report: BenchReport }) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "fabric-bench-smoke-" });
  try {
    const json = join(dir, "results.json");
    const output = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", join(REPO, "bench/main.ts"), "--quick", "--runs", "1", ...args, "--json", json],
      cwd: REPO,
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stdout = new TextDecoder().decode(output.stdout);
    const stderr = new TextDecoder().decode(output.stderr);
    assert.equal(output.code, 0, `the bench exited ${output.code}\n${stdout}\n${stderr}`);
    await check({ stdout, stderr, report: JSON.parse(await Deno.readTextFile(json)) });
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

/** Processes whose command line mentions `text`. */
async function processesMentioning(text: string): Promise<string[]> {
  const found: string[] = [];
  for await (const entry of Deno.readDir("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    try {
      const cmdline = (await Deno.readTextFile(`/proc/${entry.name}/cmdline`)).replaceAll("\0", " ");
      if (cmdline.includes(text)) found.push(cmdline);
    } catch { /* gone */ }
  }
  return found;
}

Deno.test("a paired figure's ratio is the median of each run's own, not the ratio of the two medians", () => {
  // The third run's baseline was measured in a fast minute: only the pairing keeps it from moving the ratio.
  const spec = { id: "t", name: "t", unit: "tasks/s", better: "higher" as const };
  const runs = [100, 60, 70];
  const baseline = { name: "b", samples: [200, 120, 400] };
  const paired = figure(spec, runs, { ...baseline, paired: true });
  assert.equal(paired.ratio, 0.5);
  assert.deepEqual(paired.ratios, [0.5, 0.5, 0.175]);
  assert.equal(figure(spec, runs, baseline).ratio, 70 / 200);
  // Runs that cannot be paired one to one fall back to the medians.
  assert.equal(figure(spec, runs, { name: "b", samples: [200, 400], paired: true }).ratio, 70 / 300);
});
