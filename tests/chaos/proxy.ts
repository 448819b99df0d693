/**
 * A TCP forwarder on loopback that can cut one agent off from the tracker. Each agent joins through
 * its own proxy, so cutting a proxy is a network partition of that agent alone: its open
 * connections are closed at once, and new ones are refused (accepted and closed) or blackholed
 * (accepted and never answered) until `heal`. Blackholed connections are closed when the cut heals,
 * so the partition lasts what the harness asked and not as long as some client timeout.
 */

export type CutMode = "refuse" | "blackhole";

export interface TcpProxy {
  readonly port: number;
  /** Cut: close every open connection; new ones are refused or blackholed until `heal`. */
  cut(mode: CutMode): void;
  heal(): void;
  readonly cutMode: CutMode | null;
  /** Connections forwarded since the start. */
  readonly forwarded: number;
  close(): Promise<void>;
}

export interface ProxyOptions {
  targetPort: number;
  targetHost?: string;
  /** 0 (the default) picks a free port. */
  port?: number;
}

export function startProxy(options: ProxyOptions): TcpProxy {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: options.port ?? 0, transport: "tcp" });
  const open = new Set<Deno.Conn>();
  const held = new Set<Deno.Conn>();
  const pairs = new Set<Promise<void>>();
  let mode: CutMode | null = null;
  let forwarded = 0;
  let closing = false;

  const accepting = (async () => {
    for (;;) {
      let conn: Deno.Conn;
      try {
        conn = await listener.accept();
      } catch {
        return; // the listener was closed
      }
      if (closing || mode === "refuse") {
        closeQuietly(conn);
      } else if (mode === "blackhole") {
        held.add(conn);
      } else {
        const pair = forward(conn, options, open, () => mode === null && !closing).then(() => {
          pairs.delete(pair);
        });
        forwarded++;
        pairs.add(pair);
      }
    }
  })();

  const closeAll = (set: Set<Deno.Conn>) => {
    for (const conn of set) closeQuietly(conn);
    set.clear();
  };

  return {
    port: (listener.addr as Deno.NetAddr).port,
    cut(next) {
      mode = next;
      closeAll(open);
    },
    heal() {
      mode = null;
      closeAll(held);
    },
    get cutMode() {
      return mode;
    },
    get forwarded() {
      return forwarded;
    },
    async close() {
      closing = true;
      listener.close();
      closeAll(open);
      closeAll(held);
      await accepting;
      await Promise.all(pairs);
    },
  };
}

/** Copies bytes both ways until either side ends, then closes both. */
async function forward(
  client: Deno.Conn,
  options: ProxyOptions,
  open: Set<Deno.Conn>,
  stillWanted: () => boolean,
): Promise<void> {
  open.add(client);
  let upstream: Deno.Conn;
  try {
    upstream = await Deno.connect({ hostname: options.targetHost ?? "127.0.0.1", port: options.targetPort });
  } catch {
    // The tracker is down: the agent sees a closed connection, as it would see a refused one.
    open.delete(client);
    closeQuietly(client);
    return;
  }
  // A cut may have happened while connecting: it must reach this pair too.
  if (!stillWanted() || !open.has(client)) {
    open.delete(client);
    closeQuietly(client);
    closeQuietly(upstream);
    return;
  }
  open.add(upstream);
  await Promise.race([copy(client, upstream), copy(upstream, client)]);
  open.delete(client);
  open.delete(upstream);
  closeQuietly(client);
  closeQuietly(upstream);
}

async function copy(from: Deno.Conn, to: Deno.Conn): Promise<void> {
  const buffer = new Uint8Array(64 * 1024);
  try {
    for (;;) {
      const n = await from.read(buffer);
      if (n === null) return;
      let written = 0;
      while (written < n) written += await to.write(buffer.subarray(written, n));
    }
  } catch {
    // Either side was closed (by the peer or by a cut).
  }
}

function closeQuietly(conn: Deno.Conn): void {
  try {
    conn.close();
  } catch { /* already closed */ }
}
