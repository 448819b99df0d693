/** Agents on the wire: registration, heartbeats and the view clients see. */
import { z } from "zod";
import { advertisedAddonsSchema } from "./addon.ts";
import { nameSchema } from "./spec_values.ts";
import { MAX_LABELS, MAX_VALUE_CHARS } from "./limits.ts";
import { publicKeySchema } from "./signing.ts";
import { textSchema } from "./text.ts";

/**
 * ready: takes work; draining: finishes what it has, takes nothing new; down: silent past its TTL, or
 * left; pending: joined a tracker that approves new agents (`--approve-agents`), and takes no work until
 * `fabric agents approve NAME`.
 */
export const AGENT_STATES = ["ready", "draining", "down", "pending"] as const;
export type AgentState = typeof AGENT_STATES[number];

const LABEL_KEY = /^[A-Za-z0-9][A-Za-z0-9_./-]{0,62}$/;

export const labelsSchema = z.record(
  z.string().regex(LABEL_KEY, "label keys hold letters, digits, '_', '.', '/' or '-'"),
  textSchema().max(MAX_VALUE_CHARS),
).refine((labels) => Object.keys(labels).length <= MAX_LABELS, `an agent may have at most ${MAX_LABELS} labels`);
export type Labels = z.infer<typeof labelsSchema>;

/** What an agent can do, found by trying it at start. */
export const capabilitiesSchema = z.object({
  /** bubblewrap works here. */
  sandbox: z.boolean(),
  /** The operator allows tasks that opt out of the sandbox (`--allow-unsandboxed`). */
  unsandboxed: z.boolean(),
  /** Memory limits can be enforced. */
  cgroup: z.enum(["v1", "v2"]).nullable(),
  /** A Deno runtime for script tasks. */
  deno: z.boolean(),
  git: z.boolean(),
  /**
   * `--verify-key`: the agent runs only tasks of jobs signed by one of these keys (and checks each task
   * against its signed job itself); absent, it runs unsigned jobs too.
   */
  verifyKeys: z.array(publicKeySchema).min(1).max(64).optional(),
  /** The add-ons it loaded (`--addons DIR`): name, version and the JSON Schema of their parameters. */
  addons: advertisedAddonsSchema.optional(),
});
export type Capabilities = z.infer<typeof capabilitiesSchema>;
/** The capabilities an agent has or lacks by what is installed (`verifyKeys` is a choice of its operator). */
export type ToolCapability = Exclude<keyof Capabilities, "verifyKeys" | "addons">;

/** Capacity offered to tasks: CPUs, memory and disk in bytes. */
export const agentResourcesSchema = z.object({
  cpu: z.number().min(0),
  memory: z.number().min(0),
  disk: z.number().min(0),
});
export type AgentResources = z.infer<typeof agentResourcesSchema>;

export const registerAgentRequestSchema = z.object({
  name: nameSchema,
  labels: labelsSchema.default({}),
  slots: z.number().int().min(1).max(4096),
  version: textSchema().max(64),
  os: textSchema().max(32),
  arch: textSchema().max(32),
  capabilities: capabilitiesSchema.default({
    sandbox: false,
    unsandboxed: true,
    cgroup: null,
    deno: false,
    git: false,
  }),
  resources: agentResourcesSchema.default({ cpu: 0, memory: 0, disk: 0 }),
  /** Placement weight: a task's score on an agent is utilisation x weight. Kept when omitted. */
  weight: z.number().positive().max(1000).optional(),
});
export type RegisterAgentRequest = z.input<typeof registerAgentRequestSchema>;

export interface RegisterAgentResponse {
  agentId: string;
  name: string;
  /** `AGENT_ID.SECRET`: the agent's own credential, to keep and reuse. */
  credential: string;
  heartbeatMs: number;
  ttlMs: number;
  /** Waits for an admin's `fabric agents approve NAME` before it gets work. */
  pending?: boolean;
}

/**
 * Sent by an agent that already holds a credential, on every start. `endOwnDrain`: its last run
 * drained itself to stop and never left (killed, or the tracker away): that drain ends.
 */
export const helloRequestSchema = registerAgentRequestSchema.omit({ name: true }).extend({
  endOwnDrain: z.boolean().optional(),
});
export type HelloRequest = z.input<typeof helloRequestSchema>;

export interface HelloResponse {
  agentId: string;
  name: string;
  heartbeatMs: number;
  ttlMs: number;
  /** Waits for an admin's `fabric agents approve NAME` before it gets work. */
  pending?: boolean;
}

export const loadSchema = z.object({
  load1: z.number().min(0),
  load5: z.number().min(0),
  load15: z.number().min(0),
  memFree: z.number().int().min(0),
  memTotal: z.number().int().min(0),
  running: z.number().int().min(0),
  freeSlots: z.number().int(),
});
export type AgentLoad = z.infer<typeof loadSchema>;

export const heartbeatRequestSchema = z.object({ load: loadSchema });
export type HeartbeatRequest = z.infer<typeof heartbeatRequestSchema>;

export interface HeartbeatResponse {
  state: AgentState;
  heartbeatMs: number;
  ttlMs: number;
  /** While draining: when running tasks are handed back (epoch ms). */
  drainDeadline: number | null;
}

export const drainRequestSchema = z.object({
  /** How long running tasks may go on before they are handed back. */
  graceMs: z.number().int().min(0).max(7 * 86_400_000).default(30_000),
});

export interface AgentView {
  id: string;
  name: string;
  state: AgentState;
  labels: Labels;
  slots: number;
  weight: number;
  capabilities: Capabilities;
  resources: AgentResources;
  /** What the tasks placed on the agent asked for. */
  allocated: AgentResources;
  /** Tasks the tracker has placed on the agent that have not ended. */
  running: number;
  load: AgentLoad | null;
  version: string;
  os: string;
  arch: string;
  registeredAt: string;
  lastHeartbeat: string | null;
}

export const setWeightRequestSchema = z.object({ weight: z.number().positive().max(1000) });
