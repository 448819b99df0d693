/** The output budget of one task: stdout and stderr together, and one marker when it runs out. */
import type { Stream } from "../protocol/mod.ts";

export interface OutputCap {
  push(stream: Stream, data: Uint8Array): void;
  readonly truncated: boolean;
}

/** Passes output on until `limit` bytes, then one marker on stderr, then nothing (null: no limit). */
export function capOutput(
  limit: number | null | undefined,
  onOutput: (stream: Stream, data: Uint8Array) => void,
): OutputCap {
  let sent = 0;
  let truncated = false;
  return {
    get truncated() {
      return truncated;
    },
    push(stream, data) {
      if (limit === null || limit === undefined) return onOutput(stream, data);
      if (truncated) return;
      const room = limit - sent;
      if (data.length <= room) {
        sent += data.length;
        onOutput(stream, data);
        return;
      }
      if (room > 0) onOutput(stream, data.subarray(0, room));
      sent = limit;
      truncated = true;
      // On stderr: it is fabric speaking, not the task.
      onOutput("stderr", new TextEncoder().encode(`\n[fabric: output truncated after ${limit} bytes]\n`));
    },
  };
}
