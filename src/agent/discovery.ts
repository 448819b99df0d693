/**
 * An agent with a join token and no tracker to join listens for trackers' announcements
 * (protocol/announce.ts) and takes the first whose CA is the one its token names. Anything else
 * heard (another fabric's tracker, an impostor, noise) is ignored and said once per sender: the
 * agent then joins over TLS pinned to the token's CA hash, so an announcement can only ever point it
 * at a tracker it would trust anyway.
 */
import dgram from "node:dgram";
import { announcementSchema, DISCOVERY_PORT, MAX_ANNOUNCEMENT_BYTES } from "../protocol/announce.ts";
import { FabricError } from "../protocol/mod.ts";

/** How often an agent still listening says so. */
const STILL_LISTENING_MS = 30_000;
/** Senders whose ignored announcements were already logged (a bound, as any sender may be noise). */
const MAX_NOTED = 64;

export interface DiscoveryOptions {
  caHash: string;
  port?: number;
  log: (message: string) => void;
  signal: AbortSignal;
}

/** `host:port` of each tracker the first matching announcement names. */
export function discoverTrackers(options: DiscoveryOptions): Promise<string[]> {
  const port = options.port ?? DISCOVERY_PORT;
  const caHash = options.caHash.toLowerCase();
  const socket = dgram.createSocket({ type: "udp4", reuseAddr: true });
  const noted = new Set<string>();
  return new Promise<string[]>((resolve, reject) => {
    let timer: ReturnType<typeof setInterval> | undefined;
    const finish = (error: Error | null, trackers?: string[]) => {
      clearInterval(timer);
      options.signal.removeEventListener("abort", aborted);
      try {
        socket.close();
      } catch {
        // Already closed.
      }
      if (error) reject(error);
      else resolve(trackers!);
    };
    const aborted = () => finish(new FabricError("unavailable", "Stopped while listening for a tracker"));
    options.signal.addEventListener("abort", aborted, { once: true });
    const ignore = (from: string, why: string) => {
      if (noted.has(from) || noted.size >= MAX_NOTED) return;
      noted.add(from);
      options.log(`ignoring an announcement from ${from}: ${why}`);
    };
    socket.on("message", (data: Uint8Array, sender: { address: string }) => {
      if (data.byteLength > MAX_ANNOUNCEMENT_BYTES) return ignore(sender.address, "too large");
      let parsed;
      try {
        parsed = announcementSchema.safeParse(JSON.parse(new TextDecoder().decode(data)));
      } catch {
        return ignore(sender.address, "not an announcement");
      }
      if (!parsed.success) return ignore(sender.address, "not an announcement");
      if (parsed.data.caHash !== caHash) {
        return ignore(sender.address, `its CA (${parsed.data.caHash}) is not the one the join token names`);
      }
      const trackers = parsed.data.trackers.map((url) => url.replace(/^https:\/\//, ""));
      options.log(
        `found the tracker${trackers.length > 1 ? "s" : ""} ${trackers.join(", ")} (announced by ${sender.address})`,
      );
      finish(null, trackers);
    });
    socket.on(
      "error",
      (error: Error) =>
        finish(new FabricError("unavailable", `Cannot listen for trackers on UDP ${port}: ${error.message}`)),
    );
    socket.bind(port, "0.0.0.0", () => {
      options.log(`no --join given: listening on UDP ${port} for a tracker whose CA is ${caHash}`);
      timer = setInterval(
        () => options.log(`still listening on UDP ${port} for a tracker's announcement`),
        STILL_LISTENING_MS,
      );
    });
  });
}
