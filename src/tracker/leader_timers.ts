/** The timers of the tracker that leads (server.ts starts them while it leads, stops them when it no longer does). */
import type { Tracker } from "./tracker.ts";

/** How often a leader looks for tokens changed beside it (reset-admin-token). */
const TOKENS_REFRESH_MS = 1000;
/** How often the leader expires channel keys and releases those of ended attempts. */
const CHANNEL_SWEEP_MS = 250;

/**
 * What a Tracker that leads here runs: retention, periodic jobs' launches, the liveness sweep, the
 * channels' sweep, and a look for reset tokens; stopped by the function it returns.
 */
export function startLeaderTimers(tracker: Tracker, log: (message: string) => void): () => void {
  tracker.retention.start();
  tracker.periodic.start();
  const livenessMs = Math.max(50, Math.min(1000, Math.floor(tracker.ttlMs / 4)));
  const timer = setInterval(() => {
    tracker.checkLiveness(livenessMs).catch((error) => log(`liveness check failed: ${(error as Error).message}`));
  }, livenessMs);
  // `fabric tracker reset-admin-token` changes the tokens in the store, beside this tracker: one small
  // read a second finds that (the old admin token is refused within about a second).
  let refreshing = false;
  const tokensTimer = setInterval(() => {
    if (refreshing) return;
    refreshing = true;
    tracker.refreshTokens()
      .catch((error) => log(`reading the tokens again failed: ${(error as Error).message}`))
      .finally(() => refreshing = false);
  }, TOKENS_REFRESH_MS);
  // Channels' keys whose TTL passed, or whose attempt ended, go within a quarter second (channels.ts).
  let sweeping = false;
  const channelsTimer = setInterval(() => {
    if (sweeping) return;
    sweeping = true;
    tracker.channels.sweep()
      .catch((error) => log(`expiring channel keys failed: ${(error as Error).message}`))
      .finally(() => sweeping = false);
  }, CHANNEL_SWEEP_MS);
  return () => {
    clearInterval(channelsTimer);
    clearInterval(timer);
    clearInterval(tokensTimer);
  };
}
