/** The worker: joins a tracker, heartbeats, claims tasks, runs them through `exec`, reports what happened. */
export { type AgentHandle, type AgentOptions, startAgent } from "./agent.ts";
