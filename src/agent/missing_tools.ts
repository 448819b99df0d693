/**
 * What an agent says at start about what it lacks: one line per missing tool, naming the tasks that
 * will not be placed on it and how to install the tool. Without it, a new user's job just waited.
 */
import { type Capabilities as Probed, findExecutable } from "../exec/mod.ts";
import { CAPABILITY_HELP } from "../protocol/mod.ts";

export interface MachineFacts {
  os: string;
  /** Whether "bwrap" is in PATH (when it is but the probe failed, it does not work here). */
  bwrapInPath: boolean;
}

export function missingToolLines(probed: Probed, facts: MachineFacts = thisMachine()): string[] {
  const lines: string[] = [];
  const notPlaced = (capability: "sandbox" | "git" | "deno") =>
    `${CAPABILITY_HELP[capability].tasks} will not be placed on this agent`;
  const install = (capability: "sandbox" | "git" | "deno") =>
    `; install it: ${CAPABILITY_HELP[capability].install}, then restart the agent`;
  if (!probed.sandbox) {
    if (facts.os === "darwin") {
      lines.push(
        `bubblewrap does not exist on macOS: ${notPlaced("sandbox")}; this agent runs only tasks that set ` +
          `"sandbox: false", when started with --allow-unsandboxed`,
      );
    } else if (!facts.bwrapInPath) {
      lines.push(`bubblewrap is not installed ("bwrap" is not in PATH): ${notPlaced("sandbox")}${install("sandbox")}`);
    } else {
      lines.push(`bubblewrap does not work here (${probed.sandboxError}): ${notPlaced("sandbox")}`);
    }
  }
  if (!probed.git) lines.push(`git is not installed: ${notPlaced("git")}${install("git")}`);
  if (probed.deno === null) lines.push(`deno is not in PATH: ${notPlaced("deno")}${install("deno")}`);
  return lines;
}

function thisMachine(): MachineFacts {
  return { os: Deno.build.os, bwrapInPath: findExecutable("bwrap", Deno.env.get("PATH") ?? "") !== null };
}
