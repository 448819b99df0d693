/** What an agent offers: its capabilities (probed) and its capacity (measured, or given). */
import { statfsSync } from "node:fs";
import type { AgentResources, Capabilities } from "../protocol/mod.ts";

export function describeCapabilities(c: Capabilities): string {
  const parts = [
    c.sandbox ? "sandbox" : "no sandbox",
    c.cgroup ? `memory limits (cgroup ${c.cgroup})` : "no memory limits",
    c.deno ? "deno" : "no deno",
    c.git ? "git" : "no git",
  ];
  if (c.unsandboxed) parts.push("unsandboxed allowed");
  return parts.join(", ");
}

/** The machine's CPUs and memory and the data directory's free disk, unless given. */
export function machineResources(dataDir: string, given: Partial<AgentResources> | undefined): AgentResources {
  let disk = 0;
  try {
    const fs = statfsSync(dataDir);
    disk = Number(fs.bavail) * Number(fs.bsize);
  } catch { /* unknown: tasks asking for disk will not fit here */ }
  return {
    cpu: given?.cpu ?? navigator.hardwareConcurrency,
    memory: given?.memory ?? Deno.systemMemoryInfo().total,
    disk: given?.disk ?? disk,
  };
}
