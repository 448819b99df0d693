/**
 * Durations as people write them in job files and flags: "30s", "5m", "1h30m", "250ms", or bare seconds.
 * At most MAX_DURATION_MS (7 days): every duration ends up in a timer, and a JavaScript timer given more
 * than 2^31-1 ms (24.8 days) fires at once ("30d" killed its task the moment it started).
 */
import { MAX_DURATION_MS } from "./limits.ts";

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const PART = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/g;
const WHOLE = /^(?:\d+(?:\.\d+)?(?:ms|s|m|h|d))+$/;

/**
 * Milliseconds for a duration, or a RangeError saying what was expected. `maxMs` raises the cap for a
 * duration that is only ever compared, never a timer's (a token's lifetime).
 */
export function parseDuration(value: string | number, maxMs = MAX_DURATION_MS): number {
  if (typeof value === "number") {
    if (!Number.isFinite(value) || value < 0) {
      throw new RangeError(`a duration must be a positive number of seconds, got ${value}`);
    }
    return capped(Math.round(value * 1000), String(value), maxMs);
  }
  const text = value.trim();
  if (text.length > 64) throw new RangeError(`a duration looks like "30s", "5m" or "1h30m", got a longer text`);
  if (/^\d+(?:\.\d+)?$/.test(text)) return capped(Math.round(Number(text) * 1000), value, maxMs);
  if (!WHOLE.test(text)) {
    throw new RangeError(`a duration looks like "30s", "5m" or "1h30m", got "${value}"`);
  }
  let total = 0;
  for (const [, amount, unit] of text.matchAll(PART)) total += Number(amount) * UNIT_MS[unit];
  return capped(Math.round(total), value, maxMs);
}

/** A well-formed duration over the maximum. */
export class DurationTooLongError extends RangeError {
  constructor(written: string, maxMs = MAX_DURATION_MS) {
    super(`a duration may be at most ${maxMs / 86_400_000}d, got "${written}"`);
    this.name = "DurationTooLongError";
  }
}

export const MAX_DURATION_DAYS = MAX_DURATION_MS / 86_400_000;

function capped(ms: number, written: string, maxMs: number): number {
  if (!(ms <= maxMs)) throw new DurationTooLongError(written, maxMs);
  return ms;
}

/** A short human form: 850ms, 12.3s, 4m05s, 2h10m. */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)}s`;
  const s = Math.floor(ms / 1000);
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
  if (s < 86_400) return `${Math.floor(s / 3600)}h${String(Math.floor(s / 60) % 60).padStart(2, "0")}m`;
  return `${Math.floor(s / 86_400)}d${String(Math.floor(s / 3600) % 24).padStart(2, "0")}h`;
}
