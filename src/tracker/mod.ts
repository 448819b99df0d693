/**
 * The control plane: registers agents, places tasks, notices silent agents, serves the HTTPS API.
 * `startTrackerServer` runs one; `Tracker` is its logic without a socket.
 */
export { startTrackerServer, type TrackerServer, type TrackerServerOptions } from "./server.ts";
export { type Principal, Tracker, type TrackerOptions } from "./tracker.ts";
export { createRoutes } from "./routes.ts";
export { copyTrackerStore, type StoreCopyOptions } from "./store_copy.ts";
export { resetAdminToken } from "./admin_reset.ts";
export { type RouteRule, ROUTES } from "./http/authorization.ts";
export { DEFAULT_CHANNEL_HISTORY, MAX_WATCHES_PER_CALLER } from "./channels.ts";
