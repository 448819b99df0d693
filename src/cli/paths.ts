/** Default data directories, following XDG: `~/.local/share/fabric/{tracker,agent}`. */
import { join } from "node:path";

function dataHome(): string {
  return Deno.env.get("XDG_DATA_HOME") || join(Deno.env.get("HOME") ?? ".", ".local", "share");
}

export function defaultTrackerDir(): string {
  return join(dataHome(), "fabric", "tracker");
}

export function defaultAgentDir(): string {
  return join(dataHome(), "fabric", "agent");
}
