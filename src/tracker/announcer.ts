/**
 * A tracker's announcements (protocol/announce.ts): every couple of seconds, a UDP broadcast on each
 * local IPv4 network (not loopback) naming the trackers' CA and every tracker's URL, so that an agent
 * given only a join token finds them. On by default only where the tracker listens beyond loopback
 * (`--announce`, `--no-announce`): a tracker on 127.0.0.1 has nobody on the network to tell.
 */
import dgram from "node:dgram";
import { ANNOUNCE_EVERY_MS, type Announcement, DISCOVERY_PORT } from "../protocol/announce.ts";

export interface AnnouncerOptions {
  caHash: string;
  /** Every tracker's URL, this one's first (read again at each announcement: trackers come and go). */
  urls: () => Promise<string[]>;
  port?: number;
  log: (message: string) => void;
}

export function startAnnouncer(options: AnnouncerOptions): { close(): void } {
  const port = options.port ?? DISCOVERY_PORT;
  const socket = dgram.createSocket({ type: "udp4", reuseAddr: true });
  let timer: ReturnType<typeof setInterval> | undefined;
  let failed = false;
  let told = "";
  const announce = async () => {
    const urls = (await options.urls().catch(() => [])).slice(0, 16);
    if (urls.length === 0) return;
    const message: Announcement = { fabric: "tracker", caHash: options.caHash, trackers: urls };
    const targets = broadcastAddresses();
    const where = targets.join(", ");
    if (where !== told) {
      told = where;
      options.log(
        where
          ? `announcing this tracker on UDP ${port} to ${where} (agents with a join token and no --join ` +
            "find it; --no-announce stops it)"
          : "no network to announce this tracker on (only loopback)",
      );
    }
    for (const address of targets) {
      socket.send(JSON.stringify(message), port, address, (error) => {
        if (error && !failed) {
          failed = true;
          options.log(`announcing to ${address}:${port} failed: ${error.message}`);
        }
      });
    }
  };
  socket.on("error", (error) => options.log(`announcing stopped: ${error.message}`));
  socket.bind(0, () => {
    socket.setBroadcast(true);
    void announce();
    timer = setInterval(() => void announce(), ANNOUNCE_EVERY_MS);
  });
  return {
    close() {
      clearInterval(timer);
      try {
        socket.close();
      } catch {
        // Already closed after an error.
      }
    },
  };
}

/** The directed broadcast address of each local IPv4 network, loopback left out. */
export function broadcastAddresses(): string[] {
  const out = new Set<string>();
  for (const nic of Deno.networkInterfaces()) {
    if (nic.family !== "IPv4" || nic.address.startsWith("127.")) continue;
    const address = ipv4(nic.address);
    const mask = ipv4(nic.netmask);
    if (address === null || mask === null || mask === 0xffffffff) continue;
    const broadcast = (address | ~mask) >>> 0;
    out.add([24, 16, 8, 0].map((shift) => (broadcast >>> shift) & 255).join("."));
  }
  return [...out];
}

function ipv4(text: string): number | null {
  const parts = text.split(".").map(Number);
  if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255)) return null;
  return ((parts[0] << 24) | (parts[1] << 16) | (parts[2] << 8) | parts[3]) >>> 0;
}
