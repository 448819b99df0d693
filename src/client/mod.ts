/** The typed API client: the only way the CLI and agents talk to a tracker. */
export { type ClientOptions, FabricClient, TrackerUnreachableError } from "./http_client.ts";
