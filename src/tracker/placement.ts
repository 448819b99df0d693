/**
 * Where a task goes. Pure functions over plain numbers: no clock, no I/O, no randomness of their
 * own, so every rule is testable without a running tracker.
 */

/** What placement needs to know about an agent that could take a task now. */
export interface Candidate {
  id: string;
  name: string;
  slots: number;
  /** Tasks placed on the agent that have not ended. */
  used: number;
  /** One-minute load average the agent last reported. */
  load1: number;
}

/** The least loaded candidate with a free slot: fewest used slots per slot, then lowest load, then name. */
export function pickLeastLoaded<C extends Candidate>(candidates: Iterable<C>): C | null {
  let best: C | null = null;
  for (const candidate of candidates) {
    if (candidate.used >= candidate.slots) continue;
    if (best === null || compareLoad(candidate, best) < 0) best = candidate;
  }
  return best;
}

function compareLoad(a: Candidate, b: Candidate): number {
  // Cross-multiplied to compare used/slots without floating point.
  const byUse = a.used * b.slots - b.used * a.slots;
  if (byUse !== 0) return byUse;
  if (a.load1 !== b.load1) return a.load1 - b.load1;
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}
