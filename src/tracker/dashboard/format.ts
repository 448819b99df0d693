/** Times, durations and sizes as the dashboard shows them: short, and the same on every page. */
import { formatDuration } from "../../protocol/mod.ts";

/** "12s ago", "4m05s ago", "2h10m ago" since an ISO time; "-" for none. Whole seconds: a list re-renders once a second at most. */
export function ago(iso: string | null, now: number): string {
  if (!iso) return "-";
  const ms = Math.max(0, now - Date.parse(iso));
  return ms < 1000 ? "just now" : `${formatDuration(Math.floor(ms / 1000) * 1000).replace(/\.\d+s$/, "s")} ago`;
}

/** A task's or job's run time; "-" for none. */
export function took(ms: number | null): string {
  return ms === null ? "-" : formatDuration(ms);
}

/** From the start to the end (or to now, while it runs). */
export function between(startIso: string | null, endIso: string | null, now: number): string {
  if (!startIso) return "-";
  return formatDuration(Math.max(0, (endIso ? Date.parse(endIso) : now) - Date.parse(startIso)));
}

const UNITS = ["B", "KiB", "MiB", "GiB", "TiB"];

/** "512 B", "1.5 GiB". */
export function bytes(n: number): string {
  let value = n;
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(value < 10 ? 1 : 0)} ${UNITS[unit]}`;
}
