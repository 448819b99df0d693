/** Terminal output: aligned tables, ages, and JSON for scripts. */
import { formatDuration } from "../protocol/duration.ts";

export function printJson(value: unknown): void {
  console.log(JSON.stringify(value, null, 2));
}

export function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]))).join("  ");
  return [line(headers), ...rows.map(line)].join("\n");
}

/** "3s", "5m02s" since an ISO time. */
export function age(iso: string | null, now = Date.now()): string {
  if (!iso) return "-";
  return formatDuration(Math.max(0, now - Date.parse(iso))).replace(/\.\d+s$/, "s");
}

export function isTty(): boolean {
  return Deno.stdout.isTerminal();
}

/** Text to standard output, whole, with a final newline. */
export async function writeText(text: string): Promise<void> {
  const data = new TextEncoder().encode(text.endsWith("\n") ? text : text + "\n");
  let written = 0;
  while (written < data.length) written += await Deno.stdout.write(data.subarray(written));
}
