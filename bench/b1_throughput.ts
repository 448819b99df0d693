/**
 * B1 throughput: many tasks running `true` on one local agent with 2 slots, from submit to the job's
 * end, unsandboxed and sandboxed. The baselines run the very command the agent runs (bash as a shell
 * task runs it; bwrap with the argv `bwrapArgs` builds; as root, both switched to the task user as the
 * agent switches them) with `xargs -P2`: what the machine does with no tracker, no agent, no reports,
 * two at a time.
 */
import { dirname, join } from "node:path";
import { TASK_LANG } from "../src/agent/mod.ts";
import { bwrapArgs, dropPrivileges, resolveTaskUser, shellCommand, type TaskUser } from "../src/exec/mod.ts";
import { DEFAULT_PERMISSIONS } from "../src/protocol/mod.ts";
import { BenchCluster } from "./cluster.ts";
import { run } from "./procs.ts";
import { figure } from "./report.ts";
import { assertSucceeded, type BenchContext, secondsSince, waitForJob, type WorkloadOutcome } from "./workload.ts";

const WARMUP_TASKS = 1000;

export async function throughput(context: BenchContext): Promise<WorkloadOutcome> {
  const tasks = context.quick ? 60 : 2000;
  const bash = await shellCommand({ run: "true", shell: "bash" }, context.root);
  const user = await resolveTaskUser(undefined);
  const bwrap = await sandboxArgv(context.root, user);
  // What an agent running as root runs on the host: the task's bash as the task user, through setpriv.
  const hostBash = user ? [...dropPrivileges(user), ...bash] : bash;
  const argsFile = join(context.root, "b1-args.txt");
  await Deno.writeTextFile(argsFile, Array.from({ length: tasks }, (_, i) => `${i}\n`).join(""));

  const samples = { unsandboxed: [] as number[], sandboxed: [] as number[] };
  const base = { bash: [] as number[], plain: [] as number[], bwrap: [] as number[], asRoot: [] as number[] };
  const cluster = await BenchCluster.start(context.root, { store: await context.newStore() });
  try {
    await cluster.startAgent({ name: "b1", slots: 2, allowUnsandboxed: true });
    // Unmeasured first: the tracker and the agent are long-running daemons, measured in their steady
    // state (a fresh pair's first thousand tasks run with much of their code not yet optimized by V8).
    if (!context.quick) {
      await jobRate(cluster, WARMUP_TASKS, false);
      await jobRate(cluster, WARMUP_TASKS / 5, true);
    }
    // Interleaved, so that a noisy minute on the shared machine hits fabric and its baseline alike.
    for (let i = 0; i < context.runs; i++) {
      samples.unsandboxed.push(await jobRate(cluster, tasks, false));
      base.bash.push(await xargsRate(argsFile, tasks, hostBash));
      base.plain.push(await xargsRate(argsFile, tasks, ["true"]));
      if (user) base.asRoot.push(await xargsRate(argsFile, tasks, bash));
      samples.sandboxed.push(await jobRate(cluster, tasks, true));
      base.bwrap.push(await xargsRate(argsFile, tasks, [...bwrap, ...bash]));
      context.log(
        `B1 run ${i + 1}: unsandboxed ${samples.unsandboxed[i].toFixed(0)}/s (xargs ${base.bash[i].toFixed(0)}/s), ` +
          `sandboxed ${samples.sandboxed[i].toFixed(0)}/s (bwrap ${base.bwrap[i].toFixed(0)}/s)`,
      );
    }
  } finally {
    await cluster.stop();
  }

  const unit = "tasks/s";
  return {
    figures: [
      figure(
        {
          id: "b1.unsandboxed",
          name: "unsandboxed",
          unit,
          better: "higher",
          target: { on: "ratio", op: ">=", value: 0.5 },
        },
        samples.unsandboxed,
        { name: `xargs -P2 ${hostBash.join(" ")}`, samples: base.bash, paired: true },
      ),
      ...(user
        ? [figure(
          { id: "b1.unsandboxed_vs_root", name: "unsandboxed vs bash as root", unit, better: "higher" },
          samples.unsandboxed,
          {
            name: `xargs -P2 ${bash.join(" ")} (reference: no switch to the task user)`,
            samples: base.asRoot,
            paired: true,
          },
        )]
        : []),
      figure(
        { id: "b1.unsandboxed_vs_true", name: "unsandboxed vs plain true", unit, better: "higher" },
        samples.unsandboxed,
        { name: "xargs -P2 true (reference: no shell)", samples: base.plain, paired: true },
      ),
      figure(
        {
          id: "b1.sandboxed",
          name: "sandboxed",
          unit,
          better: "higher",
          target: { on: "ratio", op: ">=", value: 0.7 },
        },
        samples.sandboxed,
        {
          name: `xargs -P2 bwrap (bwrapArgs: ${bwrap.length} args) -- ${bash.join(" ")}`,
          samples: base.bwrap,
          paired: true,
        },
      ),
    ],
    notes: [
      `${tasks} tasks per run, one agent with 2 slots; rates count from submit to the job's end; before the runs, ` +
      `${context.quick ? "no" : `${WARMUP_TASKS} unsandboxed and ${WARMUP_TASKS / 5} sandboxed`} unmeasured tasks ` +
      "(the daemons' steady state)",
    ],
  };
}

/** Tasks per second of one job of `count` tasks running `true`, from submit to its end. */
async function jobRate(cluster: BenchCluster, count: number, sandboxed: boolean): Promise<number> {
  const client = cluster.client();
  const started = performance.now();
  const { jobId } = await client.submitJob({
    name: sandboxed ? "b1-sandboxed" : "b1-unsandboxed",
    sandbox: sandboxed,
    tasks: [{ name: "t", run: "true", count }],
  });
  assertSucceeded(await waitForJob(client, jobId));
  return count / secondsSince(started);
}

/**
 * `xargs -P2` running `command` once per line of `argsFile` (the line becomes an unused last argument),
 * in an environment like a task's: the same locale (which bash loads at every start, ~0.15 ms for
 * C.UTF-8, more for others) whatever the bench's own, and no more variables than a task has.
 */
async function xargsRate(argsFile: string, count: number, command: string[]): Promise<number> {
  const env = {
    PATH: Deno.env.get("PATH") ?? "/usr/local/bin:/usr/bin:/bin",
    HOME: dirname(argsFile),
    LANG: TASK_LANG,
  };
  const result = await run("xargs", ["-a", argsFile, "-P2", "-n1", ...command], { env, clearEnv: true });
  if (result.code !== 0) throw new Error(`xargs ${command[0]} exited ${result.code}: ${result.stderr.slice(0, 500)}`);
  return count / (result.ms / 1000);
}

/**
 * The bwrap argv the agent builds for a default shell task, with a work directory under a hidden data
 * directory, and (as root) the switch to the task user the agent's tasks get.
 */
async function sandboxArgv(root: string, user: TaskUser | null): Promise<string[]> {
  const dataDir = join(root, "b1-agent-data");
  const workDir = join(dataDir, "work", "task-1");
  await Deno.mkdir(workDir, { recursive: true });
  return bwrapArgs({ workDir, permissions: DEFAULT_PERMISSIONS, hide: [dataDir], user });
}
