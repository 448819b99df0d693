/** What an agent keeps in its data directory: who it is, where its tracker is, and the CA it pinned. */
import { join } from "node:path";
import { writeSecret } from "../tls/mod.ts";

export interface AgentIdentity {
  /** `host:port` of the tracker it joined. */
  tracker: string;
  /** `host:port` of every tracker it may talk to (given with --join, and learnt from them): `tracker` first. */
  trackers?: string[];
  agentId: string;
  name: string;
  credential: string;
}

export function identityPath(dataDir: string): string {
  return join(dataDir, "agent.json");
}

/** What to do once the tracker refuses the saved credential (the agent was removed, or the tracker is another). */
export function rejoinHint(dataDir: string): string {
  return `To join again as a new agent, remove ${identityPath(dataDir)} and start it with the join token ` +
    "(--token-file FILE or FABRIC_JOIN_TOKEN)";
}

export function caPath(dataDir: string): string {
  return join(dataDir, "ca.pem");
}

export async function loadIdentity(dataDir: string): Promise<AgentIdentity | null> {
  let text: string;
  try {
    text = await Deno.readTextFile(identityPath(dataDir));
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return null;
    throw error;
  }
  const parsed = JSON.parse(text) as Partial<AgentIdentity>;
  if (!parsed.tracker || !parsed.agentId || !parsed.credential || !parsed.name) return null;
  return parsed as AgentIdentity;
}

/** The trackers an identity may talk to (an agent.json from before lists only one). */
export function trackersOf(identity: AgentIdentity): string[] {
  return identity.trackers?.length ? identity.trackers : [identity.tracker];
}

export async function saveIdentity(dataDir: string, identity: AgentIdentity): Promise<void> {
  await writeSecret(identityPath(dataDir), JSON.stringify(identity, null, 2) + "\n");
}

export async function loadSavedCa(dataDir: string): Promise<string | null> {
  try {
    return await Deno.readTextFile(caPath(dataDir));
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return null;
    throw error;
  }
}

export async function saveCa(dataDir: string, pem: string): Promise<void> {
  await Deno.writeTextFile(caPath(dataDir), pem, { mode: 0o644 });
}
