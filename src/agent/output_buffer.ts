/**
 * Turns a process's raw output into ordered log chunks: text decoded per stream (a character split
 * across reads stays whole), gathered for a few milliseconds so a chatty task does not send an event
 * per line, and numbered from 0 without gaps.
 */
import type { LogChunkData, Stream } from "../protocol/mod.ts";

const FLUSH_AFTER_MS = 20;
const FLUSH_AT_CHARS = 256 * 1024;

export class OutputBuffer {
  #decoders = { stdout: new TextDecoder(), stderr: new TextDecoder() };
  #pending: LogChunkData[] = [];
  #pendingChars = 0;
  #nextSeq = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #emit: (chunks: LogChunkData[]) => void;

  constructor(emit: (chunks: LogChunkData[]) => void) {
    this.#emit = emit;
  }

  /** Chunks emitted so far. */
  get chunks(): number {
    return this.#nextSeq;
  }

  push(stream: Stream, data: Uint8Array): void {
    this.#append(stream, this.#decoders[stream].decode(data, { stream: true }));
  }

  #append(stream: Stream, text: string): void {
    if (text === "") return;
    const last = this.#pending.at(-1);
    if (last && last.stream === stream) last.data += text;
    else this.#pending.push({ seq: -1, stream, data: text });
    this.#pendingChars += text.length;
    if (this.#pendingChars >= FLUSH_AT_CHARS) this.flush();
    else this.#timer ??= setTimeout(() => this.flush(), FLUSH_AFTER_MS);
  }

  flush(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#pending.length === 0) return;
    const chunks = this.#pending;
    for (const chunk of chunks) chunk.seq = this.#nextSeq++;
    this.#pending = [];
    this.#pendingChars = 0;
    this.#emit(chunks);
  }

  /** Flush what the decoders still hold (an incomplete character at the very end) and the rest. */
  close(): void {
    for (const stream of ["stdout", "stderr"] as const) this.#append(stream, this.#decoders[stream].decode());
    this.flush();
  }
}
