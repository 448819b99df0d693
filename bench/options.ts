/** The bench's flags. */
import { parseArgs } from "node:util";

export interface BenchOptions {
  runs: number;
  only: string[] | null;
  quick: boolean;
  huge: boolean;
  json: string;
  help: boolean;
  /** The stores measured, one after the other for each workload. */
  stores: Array<"sqlite" | "postgres">;
  /** B3 on PostgreSQL with this many trackers (1 or 2), the fleet split over them. */
  trackers: number;
}

export const USAGE = `
deno task bench [--runs N] [--only B1,B4] [--quick] [--huge] [--store sqlite|postgres|both]
                 [--trackers 1|2] [--json FILE]

Measures fabric and a baseline on this machine in the same run; prints the median of each figure
with its spread (min–max over runs), its ratio to the baseline and its target, and writes JSON.

  --runs N      repetitions of each measurement (default 3); figures are medians
  --only LIST   workloads to run: B1 throughput, B2 latency, B3 agents, B4 queue, B5 logs,
                B6 artifacts (1 GB; 20 MB with --quick)
  --quick       shrink every workload (well under a minute in all; what the smoke test runs)
  --huge        B4 with 1,000,000 tasks instead of 100,000
  --store S     the trackers' store: sqlite (default), postgres (a PostgreSQL the bench starts from
                Debian's packages, with its durable defaults: fsync on), or both: each workload on
                SQLite then on PostgreSQL, and a table of PostgreSQL's figures against SQLite's
  --trackers N  B3 on PostgreSQL with N trackers (1 or 2; default 1): with 2, the simulated fleet is
                split half and half over the leader and a follower, each half in a simulator
                process of its own, and each tracker's CPU is read (target: each under half a core
                at 10,000 agents); B3 on SQLite is unchanged
  --json FILE   where to write the results (default bench/results/latest.json)
`;

export const DEFAULT_JSON = new URL("./results/latest.json", import.meta.url).pathname;

export function parseOptions(args: string[], known: string[]): BenchOptions {
  const { values, positionals } = parseArgs({
    args,
    options: {
      runs: { type: "string" },
      only: { type: "string" },
      quick: { type: "boolean" },
      huge: { type: "boolean" },
      json: { type: "string" },
      store: { type: "string" },
      trackers: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
    allowPositionals: true,
  });
  if (positionals.length > 0) throw new RangeError(`The bench takes no arguments, got "${positionals[0]}"`);
  const runs = values.runs === undefined ? 3 : Number(values.runs);
  if (!Number.isInteger(runs) || runs < 1 || runs > 100) {
    throw new RangeError(`--runs must be a whole number from 1 to 100, got "${values.runs}"`);
  }
  const only = values.only === undefined ? null : values.only.split(",").map((id) => id.trim().toUpperCase());
  const unknown = only?.filter((id) => !known.includes(id)) ?? [];
  if (unknown.length > 0) {
    throw new RangeError(`--only takes ${known.join(", ")}; "${unknown.join(", ")}" is not one of them`);
  }
  const store = values.store ?? "sqlite";
  if (!["sqlite", "postgres", "both"].includes(store)) {
    throw new RangeError(`--store takes sqlite, postgres or both, got "${store}"`);
  }
  const trackers = values.trackers === undefined ? 1 : Number(values.trackers);
  if (trackers !== 1 && trackers !== 2) throw new RangeError(`--trackers takes 1 or 2, got "${values.trackers}"`);
  if (trackers === 2 && store === "sqlite") {
    throw new RangeError("--trackers 2 needs PostgreSQL (--store postgres or both): SQLite has one tracker");
  }
  return {
    runs,
    trackers,
    stores: store === "both" ? ["sqlite", "postgres"] : [store as "sqlite" | "postgres"],
    only,
    quick: values.quick === true,
    huge: values.huge === true,
    json: values.json ?? DEFAULT_JSON,
    help: values.help === true,
  };
}
