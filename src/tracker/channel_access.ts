/**
 * Which task an agent's channel call is for, and whether it may make it: an agent's credential reaches a
 * channel only for an attempt that runs on that agent now (assigned or running) and whose job grants the
 * channel (`permissions: {channels: [...]}`). The agent names the attempt (TASK_HEADER); everything else
 * is the tracker's own state, so an agent cannot reach a channel no task of its holds.
 */
import { FabricError } from "../protocol/mod.ts";
import type { ChannelOwner } from "../store/mod.ts";
import type { Principal } from "./credentials.ts";
import type { FabricState } from "./state.ts";

/** The attempt a call acts for: null for a client (a person's token), the task's for an agent. */
export function channelCaller(
  state: FabricState,
  principal: Principal,
  call: { channel: string; header: string | undefined },
): ChannelOwner | null {
  if (principal.kind === "client") return null;
  const refuse = (why: string) =>
    new FabricError(
      "forbidden",
      `Channels are for agents only on behalf of a task of theirs that runs now and whose job grants the channel; ${why}`,
    );
  if (principal.kind !== "agent") throw refuse("the join token only registers agents");
  const match = /^([^/]{1,256})\/(\d{1,9})$/.exec(call.header ?? "");
  if (!match) throw refuse("this call names no task");
  const [task, attempt] = [match[1], Number(match[2])];
  const entry = state.tasks.get(task);
  const record = entry?.record;
  if (
    !entry || !record || record.agentId !== principal.agentId || record.attempt !== attempt ||
    (record.state !== "assigned" && record.state !== "running")
  ) {
    throw refuse(`attempt ${attempt} of task "${task}" does not run on this agent now`);
  }
  if (!entry.template.effective.permissions.channels.includes(call.channel)) {
    throw refuse(`the job of task "${task}" does not grant channel "${call.channel}" (permissions.channels)`);
  }
  return { task, attempt };
}
