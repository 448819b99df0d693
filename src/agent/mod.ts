/** The worker: joins a tracker, heartbeats, claims tasks, runs them through `exec`, reports what happened. */
export {
  type AgentHandle,
  type AgentOptions,
  DEFAULT_JOURNAL_BYTES,
  DEFAULT_STOP_GRACE_MS,
  startAgent,
} from "./agent.ts";
/** The locale a task runs in by default (the bench runs its baselines in the same). */
export { TASK_LANG } from "./task_setup.ts";
/** What an agent says about its machine in a heartbeat (the bench's simulated agents send the same). */
export { sampleLoad } from "./load.ts";
