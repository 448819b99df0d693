/**
 * A task's way to its channels without a network: a unix socket in its directory (bound into its
 * sandbox with the directory) that the agent serves over plain HTTP, the channel routes of the API and
 * nothing else. Each call must carry the attempt's own secret (all tasks of an agent run as one user,
 * so the socket's file mode cannot tell them apart), and is sent on to the tracker with the agent's
 * credential, naming the attempt; the tracker checks that the attempt runs on this agent and that its
 * job grants the channel (tracker/channel_access.ts). The socket goes with the attempt.
 */
import { timingSafeEqual } from "node:crypto";
import { TrackerUnreachableError } from "../client/mod.ts";
import {
  type AttemptRef,
  type ChannelKeysResponse,
  type ChannelKeyView,
  type ChannelWatchResponse,
  type DeleteChannelKeyResponse,
  ERROR_STATUS,
  FabricError,
  type SetChannelKeyRequest,
  type SetChannelKeyResponse,
} from "../protocol/mod.ts";

/** What the socket sends on: the agent's client, for a task's attempt. */
export interface ChannelClient {
  listChannelKeys(channel: string, task: AttemptRef): Promise<ChannelKeysResponse>;
  getChannelKey(channel: string, key: string, task: AttemptRef): Promise<ChannelKeyView>;
  setChannelKey(
    channel: string,
    key: string,
    request: SetChannelKeyRequest,
    task: AttemptRef,
  ): Promise<SetChannelKeyResponse>;
  deleteChannelKey(
    channel: string,
    key: string,
    options: { ifRevision?: number; task: AttemptRef },
  ): Promise<DeleteChannelKeyResponse>;
  watchChannel(
    channel: string,
    after: number,
    options: { waitMs: number; signal?: AbortSignal; task: AttemptRef },
  ): Promise<ChannelWatchResponse>;
}

/** Linux's limit on a socket's path (sun_path), less its final NUL. */
export const MAX_SOCKET_PATH = 107;
/** Calls one task's socket serves at once (a watch is one, held); more are refused (429). */
const MAX_CALLS = 16;
/** A set's body: a value of 64 KiB, escaped as JSON at worst six bytes a character, and its fields. */
const MAX_BODY_BYTES = 512 * 1024;

export interface ChannelSocket {
  /** Stop serving, end the calls under way, and remove the socket's file. */
  close(): Promise<void>;
}

export function serveChannelSocket(
  options: { path: string; token: string; task: AttemptRef; client: ChannelClient },
): ChannelSocket {
  if (options.path.length > MAX_SOCKET_PATH) {
    throw new RangeError(
      `the task's directory is too deep for its channel socket ("${options.path}" is ${options.path.length} ` +
        `bytes, a unix socket's path at most ${MAX_SOCKET_PATH}): give the agent a shorter --data-dir`,
    );
  }
  const expected = new TextEncoder().encode(`Bearer ${options.token}`);
  const stop = new AbortController();
  let calls = 0;
  const server = Deno.serve({
    path: options.path,
    signal: stop.signal,
    onListen: () => {},
    onError: (error) => answer(error),
  }, async (request) => {
    const given = new TextEncoder().encode(request.headers.get("authorization") ?? "");
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
      return answer(new FabricError("unauthorized", "This socket takes the task's own FABRIC_CHANNEL_TOKEN"));
    }
    if (calls >= MAX_CALLS) {
      return answer(new FabricError("too_many_requests", `This task has ${calls} channel calls under way already`));
    }
    calls++;
    try {
      return Response.json(await forward(request, options.client, options.task, stop.signal));
    } catch (error) {
      return answer(error);
    } finally {
      calls--;
    }
  });
  // Any local user may connect (the task's user is not the agent's): the token is what admits a call.
  Deno.chmodSync(options.path, 0o666);
  return {
    async close() {
      stop.abort();
      await server.finished.catch(() => {});
      try {
        Deno.removeSync(options.path);
      } catch { /* gone already */ }
    },
  };
}

/** One call of the channel routes, sent on for `task`. */
async function forward(request: Request, client: ChannelClient, task: AttemptRef, stopped: AbortSignal) {
  const url = new URL(request.url);
  const parts = url.pathname.split("/").slice(1).map((part) => {
    try {
      return decodeURIComponent(part);
    } catch {
      throw new FabricError("bad_request", `The path "${url.pathname.slice(0, 200)}" is not valid`);
    }
  });
  const [v1, channels, name, what, key, ...rest] = parts;
  const routed = v1 === "v1" && channels === "channels" && name !== undefined && rest.length === 0;
  const method = request.method;
  const number = (param: string) => {
    const raw = url.searchParams.get(param);
    return raw === null || !/^\d{1,15}$/.test(raw) ? undefined : Number(raw);
  };
  if (routed && what === undefined && method === "GET") return await client.listChannelKeys(name, task);
  if (routed && what === "watch" && key === undefined && method === "GET") {
    const signal = AbortSignal.any([request.signal, stopped]);
    return await client.watchChannel(name, number("after") ?? 0, { waitMs: number("waitMs") ?? 25_000, signal, task });
  }
  if (routed && what === "keys" && key !== undefined) {
    if (method === "GET") return await client.getChannelKey(name, key, task);
    if (method === "DELETE") {
      return await client.deleteChannelKey(name, key, { ifRevision: number("ifRevision"), task });
    }
    if (method === "PUT") return await client.setChannelKey(name, key, await readBody(request), task);
  }
  throw new FabricError("not_found", `A task's channel socket has no route ${method} ${url.pathname.slice(0, 200)}`);
}

/** The body, read a chunk at a time and refused past MAX_BODY_BYTES (a chunked body says no length). */
async function readBody(request: Request): Promise<SetChannelKeyRequest> {
  const tooLarge = () => new FabricError("payload_too_large", `A body holds at most ${MAX_BODY_BYTES} bytes`);
  if (Number(request.headers.get("content-length") ?? "0") > MAX_BODY_BYTES) throw tooLarge();
  const chunks: Uint8Array[] = [];
  let bytes = 0;
  for await (const chunk of request.body ?? []) {
    bytes += chunk.length;
    if (bytes > MAX_BODY_BYTES) throw tooLarge();
    chunks.push(chunk);
  }
  const text = new TextDecoder().decode(await new Blob(chunks as BlobPart[]).arrayBuffer());
  try {
    // Checked by the tracker, which answers what is wrong with it.
    return JSON.parse(text) as SetChannelKeyRequest;
  } catch {
    throw new FabricError("bad_request", "The body is not JSON");
  }
}

function answer(error: unknown): Response {
  if (error instanceof FabricError) {
    const body = { error: { code: error.code, message: error.message, details: error.details } };
    return Response.json(body, { status: ERROR_STATUS[error.code] });
  }
  const message = error instanceof TrackerUnreachableError
    ? error.message
    : `The agent could not send the call on: ${(error as Error)?.message ?? String(error)}`;
  return Response.json({ error: { code: "unavailable", message } }, { status: 503 });
}
