/**
 * Unpacking a job's files into a task's directory. The pack is hostile input, whoever sent it: its hash
 * only says it is the pack the job named. So only files and folders are taken (a link, a hard link,
 * a device or a FIFO ends it), each name must stay inside the directory (no "..", no absolute path,
 * not fabric's own `.fabric`), entries and bytes are counted as they come (not as headers claim), and
 * nothing is written through a link: the directory is new and the agent's alone, folders are made a
 * step at a time, and a file is created new (O_EXCL), never opened where something already is.
 * One pass over the stream (modern-tar's decoder), so it is iterative and holds one chunk at a time.
 */
import { join } from "node:path";
import { createTarDecoder } from "modern-tar";
import { MAX_PACK_PATH } from "../protocol/mod.ts";

export interface UnpackLimits {
  /** Entries (files and folders) at most. */
  maxEntries: number;
  /** Bytes of files at most. */
  maxBytes: number;
}

/** A pack that cannot be unpacked; the task fails to start with this message. */
export class UnpackError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UnpackError";
  }
}

/** Unpack the tar at `file` into `dir`: how many files and bytes it held. */
export async function unpackPack(
  file: string,
  dir: string,
  limits: UnpackLimits,
): Promise<{ files: number; bytes: number }> {
  const input = await Deno.open(file, { read: true });
  const decoder = createTarDecoder({ strict: true });
  const piped = input.readable.pipeTo(decoder.writable).catch(() => {});
  const made = new Set<string>([""]);
  let entries = 0;
  let files = 0;
  let bytes = 0;
  const reader = decoder.readable.getReader();
  try {
    for (;;) {
      let next;
      try {
        next = await reader.read();
      } catch (error) {
        throw new UnpackError(`the pack is not a valid tar: ${(error as Error).message}`);
      }
      if (next.done) break;
      const { header, body } = next.value;
      if (++entries > limits.maxEntries) {
        await body.cancel();
        throw new UnpackError(`the pack holds more than ${limits.maxEntries} entries`);
      }
      const type = header.type ?? "file";
      const name = checkedName(header.name, type);
      if (type === "directory") {
        await body.cancel();
        await makeDirs(dir, name, made);
        continue;
      }
      if (type !== "file") {
        await body.cancel();
        throw new UnpackError(
          `the pack's entry "${shown(header.name)}" is a ${type}; a pack holds only files and folders`,
        );
      }
      const slash = name.lastIndexOf("/");
      if (slash > 0) await makeDirs(dir, name.slice(0, slash), made);
      const mode = ((header.mode ?? 0o644) & 0o111) !== 0 ? 0o755 : 0o644;
      let out: Deno.FsFile;
      try {
        out = await Deno.open(join(dir, name), { write: true, createNew: true, mode });
      } catch (error) {
        await body.cancel();
        if (error instanceof Deno.errors.AlreadyExists) {
          // Twice in the pack, or already in the folder it goes into (a git task's checkout): never written over.
          throw new UnpackError(`the pack holds "${shown(name)}" twice, or it is there already`);
        }
        throw error;
      }
      try {
        for await (const chunk of body) {
          bytes += chunk.byteLength;
          if (bytes > limits.maxBytes) {
            throw new UnpackError(`the pack's files hold more than ${limits.maxBytes} bytes`);
          }
          for (let at = 0; at < chunk.byteLength;) at += await out.write(chunk.subarray(at));
        }
      } finally {
        out.close();
      }
      files++;
    }
  } finally {
    reader.cancel().catch(() => {});
    await piped;
  }
  return { files, bytes };
}

/**
 * The entry's name as a relative path inside the directory, or an UnpackError; `what` names it in
 * the message ("the pack's entry", "the artifact").
 */
export function checkedName(raw: string, type: string, what = "the pack's entry"): string {
  const name = raw.replace(/^(\.\/)+/, "").replace(/\/+$/, "");
  const parts = name.split("/");
  const bad = name === "" || raw.length > MAX_PACK_PATH || raw.startsWith("/") || name.includes("\0") ||
    parts.some((part) => part === "" || part === "." || part === "..");
  if (bad) {
    throw new UnpackError(`${what} "${shown(raw)}" (a ${type}) is not a path inside the task's directory`);
  }
  if (parts[0] === ".fabric") {
    throw new UnpackError(`${what} "${shown(raw)}" is in fabric's own ".fabric" folder`);
  }
  return name;
}

/** Each folder of `path` under `root`, made one at a time; one that exists must be a real folder. */
export async function makeDirs(root: string, path: string, made: Set<string>): Promise<void> {
  const parts = path.split("/");
  for (let i = 1; i <= parts.length; i++) {
    const sub = parts.slice(0, i).join("/");
    if (made.has(sub)) continue;
    const full = join(root, sub);
    try {
      await Deno.mkdir(full, { mode: 0o755 });
    } catch (error) {
      if (!(error instanceof Deno.errors.AlreadyExists)) throw error;
      const info = await Deno.lstat(full);
      if (!info.isDirectory) throw new UnpackError(`the folder "${shown(sub)}" is a file too`);
    }
    made.add(sub);
  }
}

export function shown(name: string): string {
  // A name goes into the task's log and failure reason: no control character of it drives a terminal.
  const clean = [...name].map((c) => (c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f ? "?" : c)).join("");
  return clean.length > 120 ? `${clean.slice(0, 120)}…` : clean;
}
