/** The API's routes for channels (tracker/channels.ts; routes.ts registers them). */
import type { Context } from "hono";
import {
  channelKeySchema,
  channelNameSchema,
  FabricError,
  setChannelKeyRequestSchema,
  TASK_HEADER,
} from "../protocol/mod.ts";
import type { ChannelOwner } from "../store/mod.ts";
import { channelCaller } from "./channel_access.ts";
import { ROUTES } from "./http/authorization.ts";
import { type Env, intParam, type On, parseBody } from "./http/route_params.ts";
import type { Principal } from "./credentials.ts";
import type { Tracker } from "./tracker.ts";

export function channelRoutes(on: On, tracker: Tracker): void {
  const channels = tracker.channels;
  on(ROUTES.listChannels, async (c) => c.json(await channels.channels()));
  // The channel's name, and the task attempt the call is for (an agent's), checked before anything else.
  const admit = (c: Context<Env>): { name: string; task: ChannelOwner | null } => {
    const name = channelName(c);
    return {
      name,
      task: channelCaller(tracker.state, c.get("principal"), { channel: name, header: c.req.header(TASK_HEADER) }),
    };
  };
  on(ROUTES.listChannelKeys, async (c) => c.json(await channels.list(admit(c).name)));
  on(ROUTES.watchChannel, async (c) => {
    const { name, task } = admit(c);
    const after = intParam(c, "after", 0, 0, Number.MAX_SAFE_INTEGER);
    const waitMs = intParam(c, "waitMs", 25_000, 0, 60_000);
    const caller = task ? `task:${task.task}` : callerOf(c.get("principal"));
    return c.json(await channels.watch(name, after, { waitMs, caller, signal: c.req.raw.signal }));
  });
  on(ROUTES.getChannelKey, async (c) => c.json(await channels.get(admit(c).name, keyName(c))));
  on(ROUTES.setChannelKey, async (c) => {
    const { name, task } = admit(c);
    const key = keyName(c);
    c.set("audit", { target: `${name}/${key}`, detail: task ? `for task ${task.task} attempt ${task.attempt}` : null });
    const body = await parseBody(c, setChannelKeyRequestSchema);
    if (body.taskBound && !task) {
      throw new FabricError("bad_request", '"taskBound" is for a task\'s own calls (fabric channel set inside a task)');
    }
    // From a task, bound to its attempt unless it asks otherwise (docs/channels.md).
    const set = await channels.set(name, key, body, task && body.taskBound !== false ? task : null);
    return c.json(set, set.created ? 201 : 200);
  });
  on(ROUTES.deleteChannelKey, async (c) => {
    const { name, task } = admit(c);
    const key = keyName(c);
    c.set("audit", { target: `${name}/${key}`, detail: task ? `for task ${task.task} attempt ${task.attempt}` : null });
    const raw = c.req.query("ifRevision");
    const ifRevision = raw === undefined ? undefined : intParam(c, "ifRevision", 0, 0, Number.MAX_SAFE_INTEGER);
    return c.json(await channels.del(name, key, ifRevision));
  });
}

function channelName(c: Context<Env>): string {
  const name = c.req.param("name") ?? "";
  const parsed = channelNameSchema.safeParse(name);
  if (!parsed.success) {
    throw new FabricError(
      "bad_request",
      `A channel's name ${parsed.error.issues[0].message}, got "${name.slice(0, 70)}"`,
    );
  }
  return parsed.data;
}

function keyName(c: Context<Env>): string {
  const key = c.req.param("key") ?? "";
  const parsed = channelKeySchema.safeParse(key);
  if (!parsed.success) throw new FabricError("bad_request", `A channel's key ${parsed.error.issues[0].message}`);
  return parsed.data;
}

/** Whose watches count together (MAX_WATCHES_PER_CALLER). */
function callerOf(principal: Principal): string {
  switch (principal.kind) {
    case "client":
      return `client:${principal.name}`;
    case "agent":
      return `agent:${principal.agentId}`;
    case "join":
      return "join";
  }
}
