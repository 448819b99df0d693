/**
 * Zero-configuration discovery (as SuperCluster's): a tracker announces itself on its local networks
 * by UDP broadcast, and an agent given only a join token listens, and joins the first tracker whose
 * CA is the one the token names. A join token carries its tracker's CA hash (as k3s's do), so the
 * announcement needs no trust of its own: an impostor's is ignored (its CA is not the token's), and
 * whatever a listener joins, it joins over TLS pinned to that hash.
 */
import { z } from "zod";

/** Where announcements are sent and heard. */
export const DISCOVERY_PORT = 7444;
/** How often a tracker announces itself. */
export const ANNOUNCE_EVERY_MS = 2000;
/** The largest announcement a listener reads (a list of trackers' URLs fits many times over). */
export const MAX_ANNOUNCEMENT_BYTES = 8192;

export const announcementSchema = z.object({
  fabric: z.literal("tracker"),
  /** The trackers' CA: `sha256:HEX` of its public key, as `--ca-hash`. */
  caHash: z.string().regex(/^sha256:[0-9a-f]{64}$/),
  /** Every tracker sharing the store, `https://HOST:PORT` (the announcing one first). */
  trackers: z.array(z.string().regex(/^https:\/\/[^\s/]+$/).max(300)).min(1).max(16),
}).strict();

export type Announcement = z.infer<typeof announcementSchema>;

/** A join token that names its CA: `fabric-join-HEX64-SECRET`. */
export function joinTokenFor(caHash: string, secret: string): string {
  const hex = caHash.replace(/^sha256:/i, "").toLowerCase();
  return `fabric-join-${hex}-${secret}`;
}

/** The CA hash a join token names (`sha256:HEX`), or null for a token from before they named it. */
export function joinTokenCaHash(token: string): string | null {
  const match = /^fabric-join-([0-9a-f]{64})-/.exec(token.trim());
  return match ? `sha256:${match[1]}` : null;
}
