/**
 * `deno task chaos --minutes N [--seed S] [--agents K] [--trackers T]`: a tracker (or T on one
 * PostgreSQL) and K agents on loopback under a mixed workload and random faults for N minutes, then every invariant checked and a summary
 * printed. Exits 1 when an invariant fails (the run's directory is then kept, with every
 * process's log), 2 on bad flags.
 */
import { parseArgs } from "node:util";
import { jobSpecSchema } from "../../src/protocol/mod.ts";
import { runChaos } from "./chaos.ts";
import { newSeed } from "./random.ts";

const USAGE =
  `deno task chaos [--minutes N] [--seed S] [--agents K] [--slots N] [--trackers T] [--lost-after auto|on|off] [--keep] [--quiet]

  --minutes N      how long faults are injected, about (default 3; fractions allowed)
  --seed S         repeat the random choices of an earlier run (printed by every run)
  --agents K       agents (default 4)
  --slots N        slots per agent (default 2)
  --trackers T     trackers (default 1); 2 or more share a PostgreSQL the run starts (Debian's postgresql),
                   and the faults are kills of the leader and of followers, PostgreSQL restarts, agent kills
  --lost-after     give some jobs a lostAfter longer than any cut (auto: if this checkout accepts the key)
  --keep           keep the run's directory even when every invariant holds
  --quiet          print only the summary`;

async function main(args: string[]): Promise<number> {
  let flags;
  try {
    flags = parseArgs({
      args,
      options: {
        minutes: { type: "string", default: "3" },
        seed: { type: "string" },
        agents: { type: "string", default: "4" },
        slots: { type: "string", default: "2" },
        trackers: { type: "string", default: "1" },
        "lost-after": { type: "string", default: "auto" },
        keep: { type: "boolean", default: false },
        quiet: { type: "boolean", default: false },
        help: { type: "boolean", short: "h", default: false },
      },
      strict: true,
      allowPositionals: false,
    }).values;
  } catch (error) {
    console.error(`${(error as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (flags.help) {
    console.log(USAGE);
    return 0;
  }
  const minutes = Number(flags.minutes);
  const agents = Number(flags.agents);
  const slots = Number(flags.slots);
  const trackers = Number(flags.trackers);
  const seed = flags.seed === undefined ? newSeed() : Number(flags.seed);
  const lostAfter = flags["lost-after"] === "auto" ? lostAfterAccepted() : flags["lost-after"] === "on";
  const invalid = !(minutes > 0) || !Number.isInteger(agents) || agents < 2 || !Number.isInteger(slots) || slots < 1 ||
    !Number.isInteger(trackers) || trackers < 1 ||
    !Number.isInteger(seed) || seed < 0 || !["auto", "on", "off"].includes(flags["lost-after"]!);
  if (invalid) {
    console.error(
      `Invalid flags: --minutes must be positive, --agents at least 2, --slots, --trackers and --seed whole numbers\n\n${USAGE}`,
    );
    return 2;
  }
  const started = Date.now();
  const log = flags.quiet
    ? () => {}
    : (line: string) => console.error(`[chaos +${((Date.now() - started) / 1000).toFixed(1)}s] ${line}`);
  console.log(`fabric chaos: seed ${seed} (repeat with --seed ${seed})`);
  const report = await runChaos({
    durationMs: minutes * 60_000,
    seed,
    agents,
    slots,
    trackers,
    lostAfter,
    keep: flags.keep,
    maxBigBytes: 5 * 1024 * 1024,
    settleTimeoutMs: 120_000,
    log,
  });
  console.log(report.summary);
  console.log(
    `took ${(report.elapsedMs / 1000).toFixed(1)}s${report.root ? `; run directory kept: ${report.root}` : ""}`,
  );
  return report.pass ? 0 : 1;
}

/** Whether this checkout's job schema takes `lostAfter` (it is being added to fabric). */
export function lostAfterAccepted(): boolean {
  const probe = { name: "probe", lostAfter: "5s", tasks: [{ name: "t", run: "true" }] };
  return jobSpecSchema.safeParse(probe).success;
}

if (import.meta.main) Deno.exit(await main(Deno.args));
