/**
 * The API's calls about agents: what an agent asks for itself (to join, its heartbeat, its work, its
 * reports, to drain and leave), and what an operator asks about agents.
 */
import type {
  AgentView,
  AttemptRef,
  ClaimRequest,
  ClaimResponse,
  HeartbeatRequest,
  HeartbeatResponse,
  HelloRequest,
  HelloResponse,
  RegisterAgentRequest,
  RegisterAgentResponse,
  ReportResponse,
  TaskEvent,
} from "../protocol/mod.ts";
import { reportBody } from "./report_body.ts";
import { TrackerConnection } from "./tracker_connection.ts";

/** One layer of `FabricClient` (http_client.ts): its calls about agents. */
export class AgentCalls extends TrackerConnection {
  // ---- agent side ----------------------------------------------------------------------------

  register(request: RegisterAgentRequest): Promise<RegisterAgentResponse> {
    return this.json("POST", "/v1/agents/register", { body: request });
  }
  hello(request: HelloRequest & { holding: AttemptRef[] }): Promise<HelloResponse> {
    return this.json("POST", "/v1/agent/hello", { body: request });
  }
  heartbeat(request: HeartbeatRequest): Promise<HeartbeatResponse> {
    return this.json("POST", "/v1/agent/heartbeat", { body: request });
  }
  claim(request: ClaimRequest, signal?: AbortSignal): Promise<ClaimResponse> {
    return this.json("POST", "/v1/agent/claim", { body: request, timeoutMs: request.waitMs + 15_000, signal });
  }
  /** The agent drains itself: no new work; running tasks are handed back after `graceMs`. */
  selfDrain(graceMs: number): Promise<{ name: string; running: number; deadline: number }> {
    return this.json("POST", "/v1/agent/drain", { body: { graceMs } });
  }
  async leave(): Promise<void> {
    await this.json("POST", "/v1/agent/leave", { body: {} });
  }
  report(events: TaskEvent[]): Promise<ReportResponse> {
    return this.json("POST", "/v1/agent/report", { body: { events } });
  }
  /** The same, with each event already as JSON text: a chatty task's output is not encoded twice. */
  reportJson(events: string[]): Promise<ReportResponse> {
    return this.json("POST", "/v1/agent/report", { bytes: reportBody(events), bytesType: "application/json" });
  }

  // ---- an operator's, on agents --------------------------------------------------------------

  drainAgent(agentName: string, graceMs: number): Promise<{ name: string; running: number; deadline: number }> {
    return this.json("POST", `/v1/agents/${encodeURIComponent(agentName)}/drain`, { body: { graceMs } });
  }
  resumeAgent(agentName: string): Promise<{ name: string }> {
    return this.json("POST", `/v1/agents/${encodeURIComponent(agentName)}/resume`, { body: {} });
  }
  async setWeight(agentName: string, weight: number): Promise<void> {
    await this.json("PUT", `/v1/agents/${encodeURIComponent(agentName)}/weight`, { body: { weight } });
  }
  async listAgents(): Promise<AgentView[]> {
    return (await this.json<{ agents: AgentView[] }>("GET", "/v1/agents")).agents;
  }
  /** A pending agent (a tracker with --approve-agents) takes work from now on. */
  approveAgent(agentName: string): Promise<{ name: string; approved: boolean }> {
    return this.json("POST", `/v1/agents/${encodeURIComponent(agentName)}/approve`, { body: {} });
  }
  /** Revoke an agent's credential: its tasks run elsewhere, its name is free. */
  removeAgent(agentName: string): Promise<{ name: string; lost: number }> {
    return this.json("DELETE", `/v1/agents/${encodeURIComponent(agentName)}`);
  }
}
