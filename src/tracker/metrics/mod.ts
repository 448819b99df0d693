/**
 * The tracker's metrics and health: what it counts as it works (tracker_metrics.ts), gauges read from
 * its memory when scraped (state_gauges.ts), HTTP requests by route (http_metrics.ts), all rendered in
 * the Prometheus text format by a registry of our own (registry.ts); /healthz and /readyz (health.ts);
 * and the plain-HTTP listener of `--metrics-listen` (metrics_server.ts).
 */
export { Counter, Histogram, Registry, TEXT_FORMAT } from "./registry.ts";
export { JOB_OUTCOMES, type JobOutcome, TASK_OUTCOMES, type TaskOutcome, TrackerMetrics } from "./tracker_metrics.ts";
export { registerStateGauges, type StateGaugeSources } from "./state_gauges.ts";
export { HttpMetrics, type RouteRef } from "./http_metrics.ts";
export { healthAnswer, notReadyBecause, type ReadinessSources, READY_TIMEOUT_MS, within } from "./health.ts";
export { type MetricsEndpoints, type MetricsServer, serveMetrics } from "./metrics_server.ts";
export { Probes } from "./probes.ts";
