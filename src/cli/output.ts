/**
 * Terminal output: aligned tables, ages, and JSON for scripts. Text that came from elsewhere (names,
 * matrix values, labels, reasons, error messages) goes through `escapeControls`: a matrix value or an
 * agent's label could otherwise move the cursor, rewrite the screen or set the window title.
 */
import { formatDuration } from "../protocol/duration.ts";

/**
 * C0 and C1 control characters, DEL, the bidirectional overrides and isolates (which reorder what a
 * line shows), lone surrogates, and, unless kept, newlines: each as a visible `\xHH` or `\u{HHHH}`.
 */
// deno-lint-ignore no-control-regex -- matching control characters is the point
const CONTROLS = /[\x00-\x09\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069\ufeff]|\p{Cs}/gu;
// deno-lint-ignore no-control-regex -- matching control characters is the point
const CONTROLS_AND_NEWLINES = /[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069\ufeff]|\p{Cs}/gu;

/** `text` safe to print on a terminal; `keepNewlines` for messages of several lines. */
export function escapeControls(text: string, options: { keepNewlines?: boolean } = {}): string {
  return text.replace(options.keepNewlines ? CONTROLS : CONTROLS_AND_NEWLINES, (c) => {
    const code = c.charCodeAt(0);
    return code < 0x100 ? `\\x${code.toString(16).padStart(2, "0")}` : `\\u{${code.toString(16)}}`;
  });
}

export function printJson(value: unknown): void {
  console.log(JSON.stringify(value, null, 2));
}

/** Aligned columns; every cell is escaped (escapeControls). */
export function table(headers: string[], unsafeRows: string[][]): string {
  const rows = unsafeRows.map((row) => row.map((cell) => escapeControls(cell)));
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
