/**
 * What an agent needs beyond fabric for each kind of task, and how to get it. The agent says it at
 * start, the tracker when a task can run on no current agent, the demo and the test runner when a
 * machine lacks it: one text, so that all four say the same.
 */
import type { ToolCapability } from "./agent.ts";

export interface CapabilityHelp {
  /** What is missing, as a user knows it. */
  tool: string;
  /** The tasks that are not placed on an agent without it. */
  tasks: string;
  /** How to get it: one command where there is one (Debian and Ubuntu first, then Fedora). */
  install: string;
}

export const CAPABILITY_HELP: Record<ToolCapability, CapabilityHelp> = {
  sandbox: {
    tool: "bubblewrap",
    tasks: "sandboxed tasks (the default)",
    install: "sudo apt-get install bubblewrap (Fedora: sudo dnf install bubblewrap)",
  },
  git: { tool: "git", tasks: "git tasks", install: "sudo apt-get install git (Fedora: sudo dnf install git)" },
  deno: {
    tool: "deno",
    tasks: "script tasks",
    install: "npm install -g deno@2.9.6, so that deno is on the agent's PATH",
  },
  cgroup: {
    tool: "a cgroup memory controller",
    tasks: "tasks with a memory limit (resources.memory)",
    install: "run the agent as root on Linux with the memory controller mounted (cgroup v2, or v1's memory hierarchy)",
  },
  unsandboxed: {
    tool: "--allow-unsandboxed",
    tasks: "tasks that set sandbox: false",
    install: "start an agent with --allow-unsandboxed",
  },
};

/** One line for a user who lacks it: what to do, where. */
export function capabilityHint(capability: ToolCapability): string {
  const help = CAPABILITY_HELP[capability];
  if (capability === "unsandboxed") return `${help.install} to run ${help.tasks}`;
  if (capability === "cgroup") return `${help.tasks} need ${help.tool}: ${help.install}`;
  if (capability === "sandbox") {
    return `an agent needs ${help.tool} for ${help.tasks}: ${help.install}, then restart it ` +
      `(or set "sandbox: false" and start an agent with --allow-unsandboxed)`;
  }
  return `an agent needs ${help.tool} for ${help.tasks}: ${help.install}, then restart it`;
}
