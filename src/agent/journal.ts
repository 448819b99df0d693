/**
 * The agent's journal: every task event is appended to a file before it is sent, and forgotten only
 * once the tracker has acknowledged it. A restarted agent reads back what was not acknowledged and
 * sends it again, in order, so a result survives the agent's crash as well as the tracker's absence.
 *
 * Files are segments of NDJSON. Acknowledgements come in order, so only the oldest live segment can
 * be partly acknowledged: `acked.json` says how many of its lines; older segments are deleted.
 */
import { join } from "node:path";
import { type Clock, systemClock, type TaskEvent, type TimerId, utf8Length } from "../protocol/mod.ts";

const SEGMENT_BYTES = 8 * 1024 * 1024;
const ACKED_FILE = "acked.json";
/** acked.json is rewritten at most this often: losing it only means a few events are sent twice. */
const ACK_WRITE_MS = 200;

interface Segment {
  lines: number;
  acked: number;
}

export class Journal {
  readonly dir: string;
  #file: Deno.FsFile | null = null;
  #current: number;
  #currentBytes = 0;
  #segments = new Map<number, Segment>();
  /** The segment of each unacknowledged event, oldest first, and its size. */
  #pending: Array<{ segment: number; bytes: number }> = [];
  #head = 0;
  #bytes = 0;
  #unsynced = false;
  #encoder = new TextEncoder();
  /** Where a line is encoded before it is written (reused: a chatty task's output is not allocated twice). */
  #scratch = new Uint8Array(64 * 1024);
  /** Set while a rewrite of acked.json is due (see ACK_WRITE_MS). */
  #ackTimer: TimerId | undefined;
  #clock: Clock;

  private constructor(dir: string, current: number, clock: Clock) {
    this.dir = dir;
    this.#current = current;
    this.#clock = clock;
  }

  /** Open the journal in `dir`, returning the events a previous run did not get acknowledged. */
  static async open(dir: string, clock: Clock = systemClock): Promise<{ journal: Journal; pending: TaskEvent[] }> {
    await Deno.mkdir(dir, { recursive: true });
    const numbers = (await Array.fromAsync(Deno.readDir(dir)))
      .map((e) => /^seg-(\d+)\.ndjson$/.exec(e.name)?.[1])
      .filter((n): n is string => n !== undefined)
      .map(Number)
      .sort((a, b) => a - b);
    const acked = await readAcked(dir);
    const journal = new Journal(dir, (numbers.at(-1) ?? 0) + 1, clock);
    const pending: TaskEvent[] = [];
    for (const number of numbers) {
      if (acked && number < acked.segment) {
        await Deno.remove(journal.#path(number)).catch(() => {});
        continue;
      }
      const skip = acked && number === acked.segment ? acked.lines : 0;
      const segment: Segment = { lines: skip, acked: skip };
      const lines = (await Deno.readTextFile(journal.#path(number))).split("\n");
      for (const line of lines.slice(skip)) {
        if (line.trim() === "") continue;
        let event: TaskEvent;
        try {
          event = JSON.parse(line);
        } catch {
          continue; // cut short by a crash mid-write: never sent, so its attempt is reported lost
        }
        pending.push(event);
        segment.lines++;
        // Its bytes as appending counted them (UTF-8), not its characters: output beyond ASCII is more.
        const bytes = utf8Length(line) + 1;
        journal.#pending.push({ segment: number, bytes });
        journal.#bytes += bytes;
      }
      if (segment.lines === segment.acked) await Deno.remove(journal.#path(number)).catch(() => {});
      else journal.#segments.set(number, segment);
    }
    return { journal, pending };
  }

  /** Bytes not yet acknowledged. */
  get bytes(): number {
    return this.#bytes;
  }

  append(events: TaskEvent[]): void {
    this.appendJson(events.map((event) => JSON.stringify(event)));
  }

  /** Events already as JSON text (the reporter sends the same text: it is encoded once). */
  appendJson(lines: string[]): void {
    for (const line of lines) {
      const data = this.#encoded(line);
      if (!this.#file || this.#currentBytes + data.length > SEGMENT_BYTES) this.#roll();
      let written = 0;
      while (written < data.length) written += this.#file!.writeSync(data.subarray(written));
      this.#currentBytes += data.length;
      this.#segments.get(this.#current)!.lines++;
      this.#pending.push({ segment: this.#current, bytes: data.length });
      this.#bytes += data.length;
    }
    this.#unsynced = true;
  }

  /**
   * `line` and a newline as UTF-8, valid until the next call: encoded into the scratch buffer when it is
   * ASCII (`encode(line + "\n")` took 1.0 ms per 4 MB of output, this 0.24), else by `encode`.
   */
  #encoded(line: string): Uint8Array {
    if (this.#scratch.length <= line.length) this.#scratch = new Uint8Array(line.length * 2);
    const { read, written } = this.#encoder.encodeInto(line, this.#scratch);
    if (read < line.length || written === this.#scratch.length) return this.#encoder.encode(line + "\n");
    this.#scratch[written] = 0x0a;
    return this.#scratch.subarray(0, written + 1);
  }

  /** Make what was appended durable (results are, before they are sent: the tracker acts on them at once). */
  async sync(): Promise<void> {
    if (!this.#unsynced || !this.#file) return;
    this.#unsynced = false;
    await this.#file.syncData();
  }

  /** The oldest `count` unacknowledged events were acknowledged. */
  ack(count: number): void {
    if (count <= 0) return;
    for (let i = 0; i < count; i++) {
      const entry = this.#pending[this.#head++];
      this.#bytes -= entry.bytes;
      this.#segments.get(entry.segment)!.acked++;
    }
    if (this.#head > 4096 && this.#head * 2 > this.#pending.length) {
      this.#pending = this.#pending.slice(this.#head);
      this.#head = 0;
    }
    let removed = false;
    for (const [number, segment] of this.#segments) {
      if (segment.acked < segment.lines || number === this.#current) break;
      this.#segments.delete(number);
      Deno.removeSync(this.#path(number));
      removed = true;
    }
    // A deleted segment must never be read as acknowledged-to-here: record the position at once.
    if (removed) this.#writeAcked();
    else this.#ackTimer ??= this.#clock.setTimeout(() => this.#writeAcked(), ACK_WRITE_MS);
  }

  #writeAcked(): void {
    this.#clock.clearTimeout(this.#ackTimer);
    this.#ackTimer = undefined;
    const [oldest, segment] = this.#segments.entries().next().value ?? [this.#current, { acked: 0 }];
    const temp = join(this.dir, `${ACKED_FILE}.tmp`);
    Deno.writeTextFileSync(temp, JSON.stringify({ segment: oldest, lines: segment.acked }));
    Deno.renameSync(temp, join(this.dir, ACKED_FILE));
  }

  close(): void {
    if (this.#ackTimer !== undefined) this.#writeAcked();
    this.#file?.close();
    this.#file = null;
  }

  #roll(): void {
    if (this.#file) {
      this.#file.close();
      this.#current++;
    }
    this.#file = Deno.openSync(this.#path(this.#current), { create: true, append: true });
    this.#segments.set(this.#current, { lines: 0, acked: 0 });
    this.#currentBytes = 0;
  }

  #path(segment: number): string {
    return join(this.dir, `seg-${String(segment).padStart(8, "0")}.ndjson`);
  }
}

async function readAcked(dir: string): Promise<{ segment: number; lines: number } | null> {
  try {
    return JSON.parse(await Deno.readTextFile(join(dir, ACKED_FILE)));
  } catch {
    return null;
  }
}
