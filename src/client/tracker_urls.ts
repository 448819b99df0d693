/**
 * The trackers a client may talk to, as `https://host:port` URLs: any of them answers (one that does
 * not lead forwards to the one that does). Requests go to the current one; when it cannot be reached,
 * or answers 503 (it cannot reach the store, or the leader: another may), the next in the list becomes
 * current, so the caller's next try (after its own jittered wait) goes there. A list learnt from a
 * tracker (`GET /v1/trackers`) replaces it, keeping the current one first.
 */
// The protocol's part alone, not its mod.ts: a client command does not need every zod schema built.
import { STALE_TRACKER_MS, type TrackersResponse } from "../protocol/trackers.ts";

export class TrackerUrls {
  #urls: string[];
  #current = 0;

  /** `urls` in the order given; at least one. */
  constructor(urls: readonly string[]) {
    if (urls.length === 0) throw new TypeError("A client needs at least one tracker URL");
    this.#urls = dedupe(urls.map(trimUrl));
  }

  get current(): string {
    return this.#urls[this.#current];
  }

  get all(): readonly string[] {
    return this.#urls;
  }

  /** `failed` could not be reached: the next one becomes current (unless another call moved on already). */
  next(failed: string): void {
    if (this.#urls.length > 1 && this.current === failed) this.#current = (this.#current + 1) % this.#urls.length;
  }

  /** A new list (learnt from a tracker): the current URL stays current if it is in it. */
  replace(urls: readonly string[]): void {
    const next = dedupe(urls.map(trimUrl));
    if (next.length === 0) return;
    const current = this.current;
    this.#urls = next.includes(current) ? [current, ...next.filter((url) => url !== current)] : next;
    this.#current = 0;
  }
}

function trimUrl(url: string): string {
  return url.replace(/\/+$/, "");
}

function dedupe(urls: string[]): string[] {
  return [...new Set(urls)];
}

/**
 * The list to go by after asking `current` for the trackers: `current` first (the address this client
 * reached the answering tracker by, which may not be the one it advertises: a proxy, a name), then the
 * others heard from lately, then those the user gave (kept whatever the tracker says).
 */
export function learntUrls(
  answer: TrackersResponse,
  options: { current: string; given: readonly string[]; now: number },
): string[] {
  const others = answer.trackers
    .filter((t) => t.id !== answer.answeredBy && options.now - Date.parse(t.lastSeen) < STALE_TRACKER_MS)
    .map((t) => t.url);
  return dedupe([options.current, ...others, ...options.given].map(trimUrl));
}
