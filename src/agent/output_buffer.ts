/**
 * Turns a process's raw output into ordered log chunks: text decoded per stream (a character split
 * across reads stays whole), gathered for a few milliseconds so a chatty task does not send an event
 * per line, and numbered from 0 without gaps. Output that cannot be kept (the agent's journal is
 * full) is counted, and one marker chunk says how much was dropped. A task's secrets are masked in
 * each stream's text before it is gathered (secret_masker.ts).
 */
import type { Clock, LogChunkData, Stream, TimerId } from "../protocol/mod.ts";
import { maskedForms, SecretMasker } from "./secret_masker.ts";

const FLUSH_AFTER_MS = 20;
const FLUSH_AT_CHARS = 256 * 1024;

export interface OutputSink {
  /** Takes the chunks, or returns false when it cannot keep them now (unless `force`d). */
  emit(chunks: LogChunkData[], force: boolean): boolean;
}

export class OutputBuffer {
  #decoders = { stdout: new TextDecoder(), stderr: new TextDecoder() };
  #pending: LogChunkData[] = [];
  #pendingChars = 0;
  #nextSeq = 0;
  #dropped = 0;
  #timer: TimerId | undefined;
  #sink: OutputSink;
  #clock: Clock;
  /** Null for a task without secrets: its output takes no other step. */
  #maskers: Record<Stream, SecretMasker> | null = null;
  /** Made once: a timer's callback, not a closure per flush. */
  #flushLater = () => this.flush();

  /** `secrets`: the values to mask in the output. */
  constructor(sink: OutputSink, clock: Clock, secrets: Iterable<string> = []) {
    this.#sink = sink;
    this.#clock = clock;
    const forms = maskedForms(secrets);
    if (forms.length > 0) this.#maskers = { stdout: new SecretMasker(forms), stderr: new SecretMasker(forms) };
  }

  push(stream: Stream, data: Uint8Array): void {
    const text = this.#decoders[stream].decode(data, { stream: true });
    this.#append(stream, this.#maskers === null ? text : this.#maskers[stream].push(text));
  }

  #append(stream: Stream, text: string): void {
    if (text === "") return;
    const last = this.#pending.at(-1);
    if (last && last.stream === stream) last.data += text;
    else this.#pending.push({ seq: -1, stream, data: text });
    this.#pendingChars += text.length;
    if (this.#pendingChars >= FLUSH_AT_CHARS) this.flush();
    else this.#timer ??= this.#clock.setTimeout(this.#flushLater, FLUSH_AFTER_MS);
  }

  flush(force = false): void {
    this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#pending.length === 0 && !(force && this.#dropped > 0)) return;
    const output = this.#pending;
    this.#pending = [];
    this.#pendingChars = 0;
    const chunks = this.#dropped > 0 ? [this.#marker(), ...output] : output;
    chunks.forEach((chunk, i) => (chunk.seq = this.#nextSeq + i));
    if (this.#sink.emit(chunks, force)) {
      this.#nextSeq += chunks.length;
      this.#dropped = 0;
    } else {
      this.#dropped += output.reduce((n, c) => n + c.data.length, 0);
    }
  }

  #marker(): LogChunkData {
    return {
      seq: -1,
      stream: "stderr",
      data: `[fabric: ${this.#dropped} characters of output were dropped: ` +
        "the agent's journal was full while the tracker was unreachable]\n",
    };
  }

  /** Flush what the decoders still hold (an incomplete character at the very end) and the rest. */
  close(): void {
    for (const stream of ["stdout", "stderr"] as const) {
      const text = this.#decoders[stream].decode();
      this.#append(
        stream,
        this.#maskers === null ? text : this.#maskers[stream].push(text) + this.#maskers[stream].end(),
      );
    }
    this.flush();
    // The output's last word: if anything was dropped, the marker goes out even now.
    if (this.#dropped > 0) this.flush(true);
  }
}
