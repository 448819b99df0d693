/**
 * How many connections the tracker holds at once: fewer than it may open descriptors, so that
 * connections alone never exhaust them (the store, its logs and the listener's own accept need some).
 * Past the cap a new connection takes the place of the oldest one that has not sent a request yet
 * (an idle or a slow stranger's), or is closed itself when every connection is in use. Not Node's
 * `maxConnections`: on Deno 2.9 a listener held at it under a low descriptor limit stopped accepting.
 */
import type { IncomingMessage } from "node:http";
import type net from "node:net";

/** The process's soft limit on open files (RLIMIT_NOFILE), read from /proc; null where it cannot be. */
export function openFileLimit(): number | null {
  try {
    const limits = Deno.readTextFileSync("/proc/self/limits");
    const soft = limits.match(/^Max open files\s+(\d+|unlimited)/m)?.[1];
    return soft === undefined || soft === "unlimited" ? null : Number(soft);
  } catch {
    return null;
  }
}

/** A reserve of an eighth of the limit, at least 64 descriptors, is kept for everything else. */
export function connectionCap(fileLimit: number | null): number {
  if (fileLimit === null) return 16_384;
  return Math.max(16, fileLimit - Math.max(64, Math.floor(fileLimit / 8)));
}

/** Hold at most `cap` connections of `server` (an http or https server). */
export function capConnections(server: net.Server, cap: number): void {
  let open = 0;
  // Connections that have not sent a request yet, oldest first (a Set keeps insertion order).
  const fresh = new Set<net.Socket>();
  server.on("connection", (socket: net.Socket) => {
    open++;
    socket.once("close", () => {
      open--;
      fresh.delete(socket);
    });
    if (open > cap) {
      const oldest: net.Socket | undefined = fresh.values().next().value;
      if (!oldest) return void socket.destroy();
      fresh.delete(oldest);
      oldest.destroy();
    }
    fresh.add(socket);
  });
  server.on("request", (req: IncomingMessage) => {
    // Over TLS the request's socket wraps the TCP one the server counted.
    const socket = req.socket as net.Socket & { _parent?: net.Socket };
    fresh.delete(socket._parent ?? socket);
  });
}
