/** `fabric store copy`: move a tracker's SQLite data into PostgreSQL. */
import { copyTrackerStore } from "../tracker/mod.ts";
import { parseFlags, storeFlag, stringFlag, UsageError, wantsHelp } from "./args.ts";
import { defaultTrackerDir } from "./paths.ts";

const USAGE = `
fabric store copy [--from DIR] --to postgres://USER@HOST[:PORT]/DATABASE

Copy a tracker's data from its SQLite store into an empty PostgreSQL database: jobs, tasks,
attempts, logs, agents and their credentials, the token hashes, the files jobs shipped and tasks'
artifacts (blobs), channels' keys (not their history: a watch from before the copy is told it was
compacted), and the CA (ca.pem, ca.key) and tokens (admin.token, join.token) from DIR into the
database's secrets. Then start the tracker with
--store and the same DIR: agents and clients go on as before, with nothing to change on their side.

Stop the tracker first: the copy is of the data as it is when the copy starts. A database that
holds anything (a tracker started on it, an earlier copy) is refused; a copy that fails leaves the
database empty, to try again.

  --from DIR   the tracker's data directory (default ~/.local/share/fabric/tracker)
  --to URL     the database; its password in FABRIC_STORE (the whole URL, in place of --to) or
               PGPASSWORD, not on the command line
`;

export async function storeCommand(args: string[]): Promise<number> {
  const parsed = parseFlags("store", args, { from: { type: "string" }, to: { type: "string" } });
  if (wantsHelp(parsed, USAGE)) return 0;
  const [sub, ...rest] = parsed.positionals;
  if (sub !== "copy") {
    throw new UsageError(
      sub === undefined
        ? "fabric store takes a subcommand: copy (see fabric store --help)"
        : `Unknown store subcommand "${sub}" (see fabric store --help)`,
    );
  }
  if (rest.length > 0) throw new UsageError(`fabric store copy takes no arguments, got "${rest[0]}"`);
  const from = stringFlag(parsed, "from") ?? defaultTrackerDir();
  const to = storeFlag(parsed, "to");
  if (to === undefined) throw new UsageError("fabric store copy needs --to postgres://... (or FABRIC_STORE)");
  const started = performance.now();
  const counts = await copyTrackerStore({ from, to });
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  console.log(
    `Copied ${counts.jobs} jobs, ${counts.tasks} tasks, ${counts.attempts} attempts, ${counts.logs} log chunks, ` +
      `${counts.agents} agents, ${counts.tokens} tokens, ${counts.jobSecrets} secrets, ${counts.periodic} periodic jobs, ` +
      `${counts.audit} audit entries, ${counts.meta} settings, ` +
      `${counts.blobs} blobs (${megabytes(counts.blobBytes)}), ${counts.artifacts} artifacts and ` +
      `${counts.channelKeys} channel keys (not their history) from ${from} in ${seconds} s.`,
  );
  console.log(`Start the tracker on it with --data-dir ${from} and the store's URL in FABRIC_STORE.`);
  return 0;
}

function megabytes(bytes: number): string {
  return `${(bytes / 1e6).toFixed(1)} MB`;
}
