/** A request's body, refused as soon as it passes its route's limit, so that no more is ever held. */
import type { IncomingMessage } from "node:http";
import { FabricError } from "../../protocol/mod.ts";

/** The client went away before its request was whole: nobody is left to answer. */
export class ClientGoneError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ClientGoneError";
  }
}

/** The 413 for a body over `limit` bytes (`size` when the client declared it). */
export function bodyTooLarge(limit: number, size?: number): FabricError {
  const what = size === undefined ? "The request body" : `The request body (${size} bytes)`;
  return new FabricError("payload_too_large", `${what} is larger than the ${limit} bytes this route takes`);
}

/**
 * Read by events (an async iterator over the stream costs more than a small request itself). Rejects
 * with a 413 once more than `limit` bytes came (chunked or not), with ClientGoneError if the client
 * goes away first; either way what was read is dropped and the stream is left paused.
 */
export function readBody(req: IncomingMessage, limit: number): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    let chunks: Uint8Array[] = [];
    let size = 0;
    const stop = (error: Error) => {
      chunks = [];
      req.off("data", onData);
      req.pause();
      reject(error);
    };
    const onData = (chunk: Uint8Array) => {
      size += chunk.byteLength;
      if (size > limit) stop(bodyTooLarge(limit));
      else chunks.push(chunk);
    };
    req.on("data", onData);
    req.on("end", () => resolve(concat(chunks, size)));
    req.on("error", () => stop(new ClientGoneError(`the client went away mid-request, after ${size} bytes of body`)));
    req.on("aborted", () => stop(new ClientGoneError(`the client went away mid-request, after ${size} bytes of body`)));
  });
}

function concat(chunks: Uint8Array[], size: number): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return out;
}
