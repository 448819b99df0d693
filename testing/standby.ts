/** Helpers for tests of the agent's standby (a task's process started ahead): where it waits for its task. */
import { INBOX_PREFIX } from "../src/exec/mod.ts";

/** The file a standby (process `pid`, of this agent or another) waits for its task in: one of its arguments; "" if none. */
export function standbyInbox(pid: number): string {
  const args = Deno.readTextFileSync(`/proc/${pid}/cmdline`).split("\0");
  return args.find((arg) => arg.split("/").at(-1)?.startsWith(INBOX_PREFIX)) ?? "";
}
