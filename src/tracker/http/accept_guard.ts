/**
 * A listener that keeps accepting. Deno's node:net stops accepting for good once an accept fails for
 * want of a descriptor (measured on Deno 2.9: after one EMFILE no connection is taken again, even with
 * every descriptor free; no error is emitted). The connection cap keeps connections under the limit,
 * but not always: a flood's closed connections hold their descriptors until they are released, later.
 * So, every second without a new connection, the guard connects to the listener itself; when two such
 * probes in a row are not taken, it closes the listening socket (never the connections) and listens
 * again on the same address.
 */
import net from "node:net";

export interface AcceptGuardOptions {
  /** Where the server listens (a wildcard is probed on loopback). */
  hostname: string;
  port: number;
  /** The listen backlog the server listens with. */
  backlog?: number;
  intervalMs?: number;
  log: (line: string) => void;
}

const WILDCARDS: Record<string, string> = { "0.0.0.0": "127.0.0.1", "": "127.0.0.1", "::": "::1" };

export function guardListener(server: net.Server, options: AcceptGuardOptions): { stop(): void } {
  const intervalMs = options.intervalMs ?? 1000;
  const probeHost = WILDCARDS[options.hostname] ?? options.hostname;
  let accepted = 0;
  let seen = 0;
  let missed = 0;
  let probing = false;
  let wake: (() => void) | null = null;
  const onConnection = () => {
    accepted++;
    wake?.();
  };
  server.on("connection", onConnection);
  // A failed listen (the port taken meanwhile, descriptors still short) is tried again at the next tick.
  const onError = (error: Error) => options.log(`listening again failed: ${error.message}`);
  server.on("error", onError);

  const probe = async (): Promise<"taken" | "not taken" | "unknown"> => {
    const before = accepted;
    const conn = await connectWithin(probeHost, options.port, Math.min(1000, intervalMs));
    // Not even connected: a listener that stopped accepting with its queue full drops the handshake.
    if (conn === "timed out") return "not taken";
    // No descriptor for the probe either, or refused: tell nothing yet.
    if (conn === "failed") return "unknown";
    try {
      if (accepted === before) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, Math.min(1000, intervalMs));
          wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
      }
      return accepted > before ? "taken" : "not taken";
    } finally {
      wake = null;
      conn.close();
    }
  };

  const tick = async () => {
    if (probing) return;
    if (!server.listening) {
      server.listen({ port: options.port, host: options.hostname, backlog: options.backlog });
      return;
    }
    if (accepted !== seen) {
      seen = accepted;
      missed = 0;
      return;
    }
    probing = true;
    try {
      const outcome = await probe();
      seen = accepted;
      missed = outcome === "not taken" ? missed + 1 : 0;
      if (missed >= 2) {
        missed = 0;
        options.log("the listener stopped taking connections (out of file descriptors?); listening again");
        // net.Server's own close: only the listening socket goes (http's would also drop idle connections).
        net.Server.prototype.close.call(server);
        server.listen({ port: options.port, host: options.hostname, backlog: options.backlog });
      }
    } finally {
      probing = false;
    }
  };
  const timer = setInterval(() => void tick(), intervalMs);
  return {
    stop() {
      clearInterval(timer);
      server.off("connection", onConnection);
      server.off("error", onError);
    },
  };
}

/**
 * A TCP connection to `hostname:port`, or why there is none within `ms`: on loopback the handshake
 * is the kernel's alone, so only a listening socket whose queue is full (its server no longer
 * accepting) leaves it unanswered, and the connect would otherwise wait minutes for its retries.
 */
export async function connectWithin(
  hostname: string,
  port: number,
  ms: number,
): Promise<Deno.TcpConn | "timed out" | "failed"> {
  const signal = AbortSignal.timeout(ms);
  try {
    return await Deno.connect({ hostname, port, signal });
  } catch {
    return signal.aborted ? "timed out" : "failed";
  }
}
