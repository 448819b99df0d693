/** `fabric agents [--json]` */
import { parseFlags, UsageError, wantsHelp } from "./args.ts";
import { connect, CONNECTION_FLAGS, CONNECTION_HELP } from "./connect.ts";
import { age, printJson, table } from "./output.ts";

const USAGE = `
fabric agents [--json]

The agents that joined this tracker: state (ready, down), labels, slots, load, last heartbeat.
${CONNECTION_HELP}
`;

export async function agentsCommand(args: string[]): Promise<number> {
  const parsed = parseFlags("agents", args, { ...CONNECTION_FLAGS, json: { type: "boolean" } });
  if (wantsHelp(parsed, USAGE)) return 0;
  if (parsed.positionals.length > 0) throw new UsageError(`Unknown agents subcommand "${parsed.positionals[0]}"`);
  const client = await connect(parsed);
  try {
    const agents = await client.listAgents();
    if (parsed.values.json) return printJson(agents), 0;
    if (agents.length === 0) return console.log("No agents have joined yet."), 0;
    console.log(table(
      ["NAME", "STATE", "SLOTS", "RUNNING", "LOAD", "MEM FREE", "LABELS", "LAST HEARTBEAT"],
      agents.map((a) => [
        a.name,
        a.state,
        String(a.slots),
        String(a.running),
        a.load ? a.load.load1.toFixed(2) : "-",
        a.load ? `${(a.load.memFree / 2 ** 30).toFixed(1)}G` : "-",
        Object.entries(a.labels).map(([k, v]) => `${k}=${v}`).join(",") || "-",
        a.lastHeartbeat ? `${age(a.lastHeartbeat)} ago` : "-",
      ]),
    ));
    return 0;
  } finally {
    client.close();
  }
}
