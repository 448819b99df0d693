/**
 * Who may register an agent under a name. A name, once registered, is its agent's: taken back only
 * with an admin token (the agent itself comes back with its own credential, by hello), and never while
 * its agent is connected. With the join token alone, anyone who has it could otherwise take over the
 * name of an agent that is down, and with it the work pinned to that name (`agents:`).
 */
import { FabricError } from "../protocol/mod.ts";
import type { AgentEntry } from "./entries.ts";

export interface Registrant {
  /** Registered with an admin token (not the join token). */
  byAdmin: boolean;
  now: number;
  /** Silence after which an agent is down. */
  ttlMs: number;
}

/**
 * The agent whose name `name` is and whose place a registration takes, or undefined for a free name
 * (none, or a removed agent's); a FabricError("conflict") when the name may not be taken.
 */
export function admit(name: string, found: AgentEntry | undefined, who: Registrant): AgentEntry | undefined {
  if (!found || found.record.admission === "removed") return undefined;
  if (found.record.state === "ready" && who.now - found.lastSeen <= who.ttlMs) {
    throw new FabricError("conflict", `An agent named "${name}" is connected; stop it first or choose another --name`);
  }
  if (!who.byAdmin) {
    throw new FabricError(
      "conflict",
      `An agent named "${name}" is registered already: it comes back with its own credential (agent.json in its ` +
        `data directory). To give the name to a new agent, an admin removes the old one first ` +
        `(fabric agents remove ${name}), or the new one joins with an admin token`,
    );
  }
  return found;
}
