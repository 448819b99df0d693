/** What an agent's loop is given: its client, identity, slots and runtime, and the parts it drives. */
import type { FabricClient } from "../client/mod.ts";
import type { PackCache } from "./pack_cache.ts";
import type { ArtifactClient } from "./artifacts.ts";
import type { ChannelClient } from "./channel_socket.ts";
import type { ExecRuntime } from "../exec/mod.ts";
import type { Capabilities, Clock } from "../protocol/mod.ts";
import type { AgentIdentity } from "./credential.ts";
import type { JobVerifier } from "./job_verifier.ts";
import type { Journal } from "./journal.ts";
import type { Reporter } from "./reporter.ts";
import type { RunRegistry } from "./run_registry.ts";

export interface Runtime {
  capabilities: Capabilities;
  /** What the agent keeps for running its tasks; the loop closes it when the agent stops. */
  exec: ExecRuntime;
}

export interface LoopOptions {
  client: Pick<FabricClient, "claim" | "heartbeat" | "selfDrain" | "leave" | "close">;
  identity: AgentIdentity;
  dataDir: string;
  slots: number;
  heartbeatMs: number;
  runtime: Runtime;
  journal: Journal;
  registry: RunRegistry;
  reporter: Reporter;
  stopGraceMs: number;
  clock: Clock;
  /** For the jitter of the retries (Math.random by default). */
  random?: () => number;
  /** Unique ids (for a task's cgroup); random UUIDs by default. */
  randomId?: () => string;
  log: (message: string) => void;
  /** `--verify-key`: tasks are checked against their signed job before they run. */
  verifier?: JobVerifier | null;
  /** Where jobs' `files:` are fetched (none: a task with files fails to start). */
  packs?: PackCache | null;
  /** Where tasks' artifacts go (none: they are not kept). */
  artifacts?: ArtifactClient | null;
  /** Where tasks' channel calls go (none: a job that grants channels cannot run here). */
  channels?: ChannelClient | null;
}
