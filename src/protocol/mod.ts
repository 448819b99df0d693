/**
 * The wire: every type and schema that crosses a process boundary (HTTP bodies, job files), and the
 * two small helpers every part shares: the `Clock` that time comes through and the retry policy.
 * Nothing here imports anything else of fabric's, so every other part may depend on it.
 */
export * from "./errors.ts";
export * from "./not_connected.ts";
export * from "./announce.ts";
export * from "./duration.ts";
export * from "./job_spec.ts";
export {
  backoffSchema,
  durationSchema,
  envBytes,
  envSchema,
  nameSchema,
  retentionSchema,
  shellSchema,
  sizeSchema,
} from "./spec_values.ts";
export type { Backoff } from "./spec_values.ts";
export * from "./task_placement.ts";
export * from "./task_files.ts";
export * from "./task_graph.ts";
export * from "./git_url.ts";
export * from "./job_expand.ts";
export { envSuffix } from "./env_names.ts";
export * from "./size.ts";
export * from "./permissions.ts";
export * from "./job.ts";
export * from "./task.ts";
export * from "./agent.ts";
export * from "./log.ts";
export * from "./agent_api.ts";
export * from "./assignment.ts";
export * from "./capability_help.ts";

export { FABRIC_VERSION } from "./version.ts";
export * from "./spec_errors.ts";
export * from "./job_file.ts";
export * from "./job_validate.ts";
export * from "./document.ts";
export * from "./limits.ts";
export * from "./pattern.ts";
export * from "./text.ts";
export * from "./json_body.ts";
export * from "./clock.ts";
export * from "./retry.ts";
export * from "./signing.ts";
export * from "./signing_keys.ts";
export * from "./task_fields.ts";
export * from "./secret.ts";
export * from "./channel.ts";
export * from "./task_header.ts";
export * from "./token.ts";
export * from "./gc.ts";
export * from "./blob.ts";
export * from "./needs.ts";
export * from "./heartbeat_relay.ts";
export * from "./claim_pool.ts";
export * from "./trackers.ts";
export * from "./audit.ts";
export * from "./schedule.ts";
export * from "./periodic.ts";
export * from "./addon.ts";
