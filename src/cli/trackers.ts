/** `fabric trackers [--json]` */
import { parseFlags, UsageError, wantsHelp } from "./args.ts";
import { connect, CONNECTION_FLAGS, CONNECTION_HELP } from "./connect.ts";
import { age, printJson, table } from "./output.ts";

const USAGE = `
fabric trackers [--json]

The trackers that share the store of the tracker asked (on PostgreSQL, several may): each one's name,
address, role (leader: the one that places work; follower: it forwards to the leader), version, and
when it last wrote its heartbeat in the store. On SQLite, the one tracker.
${CONNECTION_HELP}
`;

export async function trackersCommand(args: string[]): Promise<number> {
  const parsed = parseFlags("trackers", args, { ...CONNECTION_FLAGS, json: { type: "boolean" } });
  if (wantsHelp(parsed, USAGE)) return 0;
  if (parsed.positionals.length > 0) {
    throw new UsageError(`fabric trackers takes no arguments, got "${parsed.positionals[0]}"`);
  }
  const client = await connect(parsed);
  try {
    const { trackers, answeredBy } = await client.listTrackers();
    if (parsed.values.json) return printJson(trackers), 0;
    console.log(table(
      ["NAME", "URL", "ROLE", "VERSION", "LAST SEEN"],
      trackers.map((t) => [
        t.id === answeredBy ? `${t.id} (this one)` : t.id,
        t.url,
        t.role,
        t.version,
        `${age(t.lastSeen)} ago`,
      ]),
    ));
    return 0;
  } finally {
    client.close();
  }
}
