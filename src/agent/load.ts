/** What an agent says about its machine in each heartbeat. */
import type { AgentLoad } from "../protocol/mod.ts";

export function sampleLoad(running: number, slots: number): AgentLoad {
  const [load1, load5, load15] = Deno.loadavg();
  const memory = Deno.systemMemoryInfo();
  return {
    load1,
    load5,
    load15,
    memFree: memory.available,
    memTotal: memory.total,
    running,
    freeSlots: Math.max(0, slots - running),
  };
}
