/**
 * `fabric tracker reset-admin-token [--data-dir DIR]`: a lost admin token replaced by someone who can
 * write the tracker's data directory, whether the tracker runs or not (see tracker/admin_reset.ts).
 */
import { join } from "node:path";
import { FabricClient } from "../client/mod.ts";
import { FabricError } from "../protocol/errors.ts";
import { resetAdminToken } from "../tracker/mod.ts";
import { parseFlags, storeFlag, stringFlag, UsageError, wantsHelp } from "./args.ts";
import { DataDirLockedError, lockDataDir } from "./data_dir_lock.ts";
import { defaultTrackerDir } from "./paths.ts";

const USAGE = `
fabric tracker reset-admin-token [--data-dir DIR] [--store URL]

Replace the admin token named "admin" (DIR/admin.token), for someone who can write the tracker's data
directory, while the tracker runs or not. The new token is printed alone on stdout and written to
DIR/admin.token (0600); the old one is refused from then on: a running tracker finds the change in its
store within a second, and this command waits until it accepts the new token. Other admin tokens
(fabric token create) are left as they are.

  --data-dir DIR   the tracker's data directory (default ~/.local/share/fabric/tracker)
  --store URL      the tracker's PostgreSQL store, as the tracker was given it (or FABRIC_STORE); its
                   other trackers' data directories get the new token at their next start
`;

/** How long a running tracker is given to take the new token. */
const CONFIRM_MS = 10_000;

export async function resetAdminTokenCommand(args: string[]): Promise<number> {
  const parsed = parseFlags("tracker reset-admin-token", args, {
    "data-dir": { type: "string" },
    store: { type: "string" },
  });
  if (wantsHelp(parsed, USAGE)) return 0;
  if (parsed.positionals.length > 0) {
    throw new UsageError(`fabric tracker reset-admin-token takes no arguments, got "${parsed.positionals[0]}"`);
  }
  const dataDir = stringFlag(parsed, "data-dir") ?? defaultTrackerDir();
  const token = await resetAdminToken(dataDir, { store: storeFlag(parsed) });
  console.log(token);
  const running = await runningTracker(dataDir);
  if (running === null) {
    console.error(`The admin token is replaced (${join(dataDir, "admin.token")}); no tracker runs on this directory.`);
    return 0;
  }
  await untilAccepted(dataDir, token);
  console.error(
    `The admin token is replaced (${join(dataDir, "admin.token")}); the running tracker (pid ${running}) ` +
      "accepts it and refuses the old one.",
  );
  return 0;
}

/** The pid of the tracker that holds `dataDir`, or null when none does. */
async function runningTracker(dataDir: string): Promise<number | null> {
  try {
    (await lockDataDir(dataDir, "reset")).release();
    return null;
  } catch (error) {
    if (error instanceof DataDirLockedError) return error.pid ?? 0;
    throw error;
  }
}

/** Ask the running tracker, with the new token, until it accepts it (it may still be starting). */
async function untilAccepted(dataDir: string, token: string): Promise<void> {
  const deadline = Date.now() + CONFIRM_MS;
  for (;;) {
    try {
      const { url } = JSON.parse(await Deno.readTextFile(join(dataDir, "tracker.json")));
      const client = new FabricClient({ url, token, caPem: await Deno.readTextFile(join(dataDir, "ca.pem")) });
      try {
        await client.listTokens();
        return;
      } finally {
        client.close();
      }
    } catch (error) {
      if (Date.now() > deadline) {
        throw new FabricError(
          "unavailable",
          `The admin token is replaced in the store and in ${join(dataDir, "admin.token")}, but the running ` +
            `tracker did not confirm it within ${CONFIRM_MS / 1000}s (${(error as Error).message}); it takes ` +
            "it at its next start at the latest",
        );
      }
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }
}
