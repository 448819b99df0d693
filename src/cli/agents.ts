/** `fabric agents [--json]` */
import { addonKey } from "../protocol/addon.ts";
import type { AgentView } from "../protocol/mod.ts";
import { DEFAULT_STOP_GRACE_MS } from "../agent/defaults.ts";
import { durationFlag, type Parsed, parseFlags, stringFlag, UsageError, wantsHelp } from "./args.ts";
import { connect, CONNECTION_FLAGS, CONNECTION_HELP } from "./connect.ts";
import { age, escapeControls, printJson, table } from "./output.ts";

const USAGE = `
fabric agents [--json]
fabric agents weight NAME W
fabric agents drain NAME [--grace DURATION]
fabric agents resume NAME
fabric agents approve NAME
fabric agents remove NAME

The agents that joined this tracker: state (ready, draining, down, pending), labels, slots, weight,
what they can run (sandbox, memory limits, deno, git), their add-ons (NAME@VERSION; --json gives
each one's parameters schema too), load and last heartbeat.

  weight NAME W   change an agent's placement weight, live (a task's score is utilisation x W)
  drain NAME      no new work for the agent; its running tasks may finish within --grace (default 30s),
                  then they are handed back and run elsewhere
  resume NAME     undo a drain: the agent takes work again
  approve NAME    a pending agent (the tracker runs with --approve-agents) takes work from now on
  remove NAME     revoke the agent's credential: its next request is refused and it stops, its tasks
                  run elsewhere, and its name is free for a new agent to join with. Until then, a name
                  that exists is taken back only with its own credential or an admin token

weight, drain and resume need the operator role; approve and remove the admin role.
${CONNECTION_HELP}
`;

export async function agentsCommand(args: string[]): Promise<number> {
  const parsed = parseFlags("agents", args, {
    ...CONNECTION_FLAGS,
    json: { type: "boolean" },
    grace: { type: "string" },
  });
  if (wantsHelp(parsed, USAGE)) return 0;
  const [sub, ...rest] = parsed.positionals;
  if (sub === "weight") return await setWeight(parsed, rest);
  if (sub === "drain" || sub === "resume") return await drainOrResume(parsed, sub, rest);
  if (sub === "approve" || sub === "remove") return await approveOrRemove(parsed, sub, rest);
  if (sub !== undefined) throw new UsageError(`Unknown agents subcommand "${sub}" (see fabric agents --help)`);
  const client = await connect(parsed);
  try {
    const agents = await client.listAgents();
    if (parsed.values.json) return printJson(agents), 0;
    if (agents.length === 0) return console.log("No agents have joined yet."), 0;
    console.log(table(
      [
        "NAME",
        "STATE",
        "SLOTS",
        "RUNNING",
        "WEIGHT",
        "CAN RUN",
        "ADD-ONS",
        "LOAD",
        "MEM FREE",
        "LABELS",
        "LAST HEARTBEAT",
      ],
      agents.map((a) => [
        a.name,
        a.state,
        String(a.slots),
        String(a.running),
        String(a.weight),
        canRun(a.capabilities),
        (a.capabilities.addons ?? []).map(addonKey).join(",") || "-",
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

function canRun(c: AgentView["capabilities"]): string {
  const parts = [c.sandbox ? "sandbox" : "no-sandbox"];
  if (c.unsandboxed) parts.push("unsandboxed");
  if (c.cgroup) parts.push(`mem-limits`);
  if (c.deno) parts.push("deno");
  if (c.git) parts.push("git");
  if (c.verifyKeys) parts.push("signed-only");
  return parts.join(",");
}

async function setWeight(parsed: Parsed, args: string[]): Promise<number> {
  const [name, raw] = args;
  const weight = Number(raw);
  if (args.length !== 2 || !Number.isFinite(weight) || weight <= 0 || weight > 1000) {
    throw new UsageError(
      `fabric agents weight takes an agent name and a weight from 0.001 to 1000, e.g. "fabric agents weight build-1 2"`,
    );
  }
  const client = await connect(parsed);
  try {
    await client.setWeight(name, weight);
    console.log(escapeControls(`agent ${name} weight ${weight}`));
    return 0;
  } finally {
    client.close();
  }
}

async function drainOrResume(parsed: Parsed, sub: "drain" | "resume", args: string[]): Promise<number> {
  if (args.length !== 1) throw new UsageError(`fabric agents ${sub} takes one agent name`);
  const grace = durationFlag(stringFlag(parsed, "grace"), "--grace") ?? DEFAULT_STOP_GRACE_MS;
  const client = await connect(parsed);
  try {
    if (sub === "resume") {
      await client.resumeAgent(args[0]);
      console.log(escapeControls(`agent ${args[0]} takes work again`));
    } else {
      const result = await client.drainAgent(args[0], grace);
      console.log(escapeControls(
        `agent ${result.name} draining: ${result.running} running task(s) are handed back at ${
          new Date(result.deadline).toISOString()
        } if not done`,
      ));
    }
    return 0;
  } finally {
    client.close();
  }
}

async function approveOrRemove(parsed: Parsed, sub: "approve" | "remove", args: string[]): Promise<number> {
  if (args.length !== 1) throw new UsageError(`fabric agents ${sub} takes one agent name`);
  const client = await connect(parsed);
  try {
    if (sub === "approve") {
      const result = await client.approveAgent(args[0]);
      console.log(
        escapeControls(`agent ${result.name} ${result.approved ? "approved: it takes work" : "was approved already"}`),
      );
    } else {
      const result = await client.removeAgent(args[0]);
      console.log(escapeControls(
        `agent ${result.name} removed: its credential is revoked; ${result.lost} task(s) it had run elsewhere`,
      ));
    }
    return 0;
  } finally {
    client.close();
  }
}
