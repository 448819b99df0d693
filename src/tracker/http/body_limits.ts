/**
 * How large a body each route takes, known from the request line before any of it is read. The
 * routes that carry a lot say so (an agent's report batches up to 4 MB of output, a submit carries its
 * script files, a hello or a claim lists what the agent holds); every other POST is a few fields.
 */
import { BLOB_CHUNK_BYTES } from "../../protocol/mod.ts";

const MB = 1024 * 1024;

const LARGE: Record<string, number> = {
  "POST /v1/agent/report": 32 * MB,
  "POST /v1/jobs": 32 * MB,
  // Up to 100,000 held attempts of up to ~150 bytes each.
  "POST /v1/agent/hello": 32 * MB,
  "POST /v1/agent/claim": 32 * MB,
  // A follower's agents' heartbeats (heartbeat_relay.ts): up to 50,000 of ~250 bytes.
  "POST /v1/trackers/heartbeats": 16 * MB,
  // A follower's agents' claims (claim_relay.ts): each opened claim names the attempts its agent holds.
  "POST /v1/trackers/claims": 64 * MB,
};

/** Any other request with a body (register, heartbeat, drain, weight...). */
export const SMALL_BODY_BYTES = 1 * MB;

/** A form of the web dashboard (a token, a CSRF token): read before its sender is known, so kept small. */
export const FORM_BODY_BYTES = 16 * 1024;

/** The largest body, in bytes, that `method path` may send (a GET or HEAD sends none). */
export function bodyLimit(method: string, path: string): number {
  if (method === "GET" || method === "HEAD") return 0;
  if (!path.startsWith("/v1/")) return FORM_BODY_BYTES;
  // One chunk of a blob (protocol/blob.ts).
  if (method === "PUT" && path.startsWith("/v1/blobs/")) return BLOB_CHUNK_BYTES;
  return LARGE[`${method} ${path}`] ?? SMALL_BODY_BYTES;
}
