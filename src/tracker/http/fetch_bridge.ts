/**
 * The bridge between node:http's request and response and the fetch handler's Request and Response
 * (https_server.ts says why it is hand-written): a Request from what the door read, and a Response
 * written back, whole when it is one piece, streamed when it comes in pieces.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { once } from "node:events";
import { FabricError } from "../../protocol/mod.ts";
import { PEER_HEADER } from "./client_address.ts";

/** Bodies fabric streams (logs --follow) are passed on as they come, from the first piece (respond()). */
const STREAMED = /^application\/x-ndjson/;

interface RequestParts {
  method: string;
  url: string;
  body: Uint8Array;
  /** Where it came from: in PEER_HEADER, replacing whatever the client sent there. */
  address: string | null;
  signal: AbortSignal;
}

export function toRequest(req: IncomingMessage, { method, url, body, address, signal }: RequestParts) {
  const headers = new Headers();
  for (const [name, value] of Object.entries(req.headers)) {
    if (Array.isArray(value)) { for (const v of value) headers.append(name, v); }
    else if (value !== undefined) headers.set(name, value);
  }
  headers.delete(PEER_HEADER);
  if (address !== null) headers.set(PEER_HEADER, address);
  return new Request(requestUrl(req.headers.host, url), {
    method,
    headers,
    body: method === "GET" || method === "HEAD" || body.byteLength === 0 ? undefined : body as Uint8Array<ArrayBuffer>,
    signal,
  });
}

/** The URL a handler sees. A Host header no URL can hold (`a b`) is the client's mistake, not a bug of ours. */
function requestUrl(host: string | undefined, path: string): string {
  const url = `https://${host ?? "localhost"}${path}`;
  if (!URL.canParse(url)) {
    throw new FabricError("bad_request", "The request's Host header and path do not make a URL");
  }
  return url;
}

/**
 * Writes `response` to `res`; a client that takes nothing of it for `stalledReaderMs` is cut
 * (a whole-job stream would otherwise wait on it for good).
 */
export async function respond(
  res: ServerResponse,
  response: Response,
  abort: AbortController,
  stalledReaderMs: number,
): Promise<void> {
  const outHeaders: Record<string, string> = {};
  response.headers.forEach((value, name) => (outHeaders[name] = value));
  if (!response.body) {
    res.writeHead(response.status, outHeaders);
    res.end();
    return;
  }
  const reader = response.body.getReader();
  // A body of one piece (every answer made whole: JSON, pages) is sent whole, with its length. One in
  // several pieces is passed on as they come: a whole job's JSON (job_json.ts, hundreds of megabytes for
  // a million tasks) would otherwise be gathered here into one buffer and written at once, holding the
  // event loop for seconds. A log stream is passed on from its first piece (the next may be long coming).
  const pieces: Uint8Array[] = [];
  if (!STREAMED.test(response.headers.get("content-type") ?? "")) {
    for (let read = 0; read < 2; read++) {
      const { done, value } = await reader.read();
      if (done) {
        const body = pieces[0] ?? new Uint8Array(0);
        outHeaders["content-length"] = String(body.byteLength);
        res.writeHead(response.status, outHeaders);
        res.end(body);
        return;
      }
      pieces.push(value);
    }
  }
  res.writeHead(response.status, outHeaders);
  try {
    for (const piece of pieces) if (!res.write(piece)) await drained(res, stalledReaderMs);
    for (;;) {
      if (abort.signal.aborted) break;
      const { done, value } = await reader.read();
      if (done) break;
      if (!res.write(value)) await drained(res, stalledReaderMs);
    }
  } finally {
    reader.cancel().catch(() => {});
    res.end();
  }
}

/** Until the client has taken what was written, or is gone; one that takes nothing for long is cut. */
async function drained(res: ServerResponse, stalledReaderMs: number): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const stalled = new Promise<void>((resolve) => {
    timer = setTimeout(() => {
      res.destroy();
      resolve();
    }, stalledReaderMs);
  });
  await Promise.race([once(res, "drain"), once(res, "close"), stalled]);
  clearTimeout(timer);
}
