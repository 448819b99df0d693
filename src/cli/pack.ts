/**
 * Packing a job's `files:` on the submitter's machine: which files the paths and globs name (inside a
 * git checkout, what `git ls-files -co --exclude-standard` lists, so .gitignore is git's to apply, not
 * ours to parse), checked (regular files only; a link only to a file inside the job file's folder,
 * read as that file), and written as one tar (modern-tar: streamed, Web Streams, no dependencies)
 * to a file, hashed as it is written. Every entry has the same owner and time, and they come in
 * order of name, so the same files make the same pack: its SHA-256 names it, and a pack the tracker
 * holds already is not uploaded again.
 */
import { join, matchesGlob, posix, relative, resolve } from "node:path";
import { MAX_PACK_ENTRIES, MAX_PACK_PATH } from "../protocol/blob.ts";

export interface PackOptions {
  /** The job file's folder, links resolved. */
  base: string;
  /** Pack what .gitignore leaves out too. */
  noIgnore: boolean;
  /** A path may leave the job file's folder. */
  allowOutside: boolean;
  /** The most a pack may hold, in bytes (its files' sizes). */
  maxBytes: number;
}

/** One file to pack: its name in the pack, where it is read from, its size and mode. */
export interface PackSource {
  name: string;
  path: string;
  size: number;
  executable: boolean;
}

/** A pattern that cannot be packed: `pattern` is the one at fault, null for the whole list. */
export class PackError extends Error {
  constructor(readonly pattern: string | null, message: string) {
    super(message);
    this.name = "PackError";
  }
}

const GLOB = /[*?[\]{}]/;

/** The files the patterns name, checked and in order of name. */
export async function collectFiles(patterns: readonly string[], options: PackOptions): Promise<PackSource[]> {
  const candidates = new Lazy(() => listCandidates(options.base, options.noIgnore));
  const names = new Map<string, string>(); // name in the pack -> path on disk
  for (const pattern of patterns) {
    const fail = (message: string): never => {
      throw new PackError(pattern, message);
    };
    // Two paths that would be one name in the pack (a folder outside and one inside, both `a/x`): refused.
    const add = (name: string, full: string) => {
      const before = names.get(name);
      if (before !== undefined && before !== full) {
        fail(`"${before}" and "${full}" would both be "${name}" in the pack`);
      }
      names.set(name, full);
    };
    const path = posix.normalize(pattern).replace(/\/+$/, "") || ".";
    const outside = path === ".." || path.startsWith("../");
    if (outside && !options.allowOutside) {
      fail(`"${pattern}" is outside the job file's folder "${options.base}"; pass --allow-outside to ship it`);
    }
    if (GLOB.test(path)) {
      if (outside) fail(`"${pattern}" is a glob outside the job file's folder; name the files or folder instead`);
      const matched = (await candidates.get()).filter((name) => matchesGlob(name, path));
      if (matched.length === 0) fail(`"${pattern}" matches no file`);
      for (const name of matched) add(name, join(options.base, name));
      continue;
    }
    const full = resolve(options.base, path);
    const info = await Deno.lstat(full).catch((error) => fail(`"${pattern}": ${reasonOf(error)}`));
    // A folder outside is shipped under its path less the leading `..`s (`..` itself: the pack's top).
    const packName = outside ? path.replace(/^(\.\.(\/|$))+/, "") || "." : path;
    if (!info.isDirectory) {
      add(packName, full);
      continue;
    }
    const inside = outside ? await walk(full) : (await candidates.get())
      .filter((name) => path === "." || name.startsWith(`${path}/`))
      .map((name) => path === "." ? name : name.slice(path.length + 1));
    if (inside.length === 0) fail(`the folder "${pattern}" holds no file to ship (ignored files are left out)`);
    for (const name of inside) add(packName === "." ? name : `${packName}/${name}`, join(full, name));
    if (names.size > MAX_PACK_ENTRIES) break;
  }
  if (names.size > MAX_PACK_ENTRIES) {
    throw new PackError(null, `"files" name more than ${MAX_PACK_ENTRIES} files; a pack holds at most that many`);
  }
  const sources: PackSource[] = [];
  let bytes = 0;
  for (const [name, path] of [...names].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    const source = await checkSource(name, path, options);
    bytes += source.size;
    if (bytes > options.maxBytes) {
      throw new PackError(
        null,
        `"files" hold more than ${options.maxBytes} bytes (the limit of a pack); ship less, or raise --max-pack`,
      );
    }
    sources.push(source);
  }
  return sources;
}

/** A file to pack if it is a regular file, or a link to one that stays in the folder (read as that file). */
async function checkSource(name: string, path: string, options: PackOptions): Promise<PackSource> {
  const fail = (message: string): never => {
    throw new PackError(null, message);
  };
  if (name.length > MAX_PACK_PATH) fail(`"${name.slice(0, 80)}…" is a path longer than ${MAX_PACK_PATH} characters`);
  if (name === ".fabric" || name.startsWith(".fabric/")) {
    fail(`"${name}": ".fabric" is fabric's own folder in a task's`);
  }
  const info = await Deno.lstat(path).catch((error) => fail(`"${name}": ${reasonOf(error)}`));
  let real = path;
  if (info.isSymlink) {
    real = await Deno.realPath(path).catch(() => fail(`"${name}" is a link to nothing`));
    const within = relative(options.base, real);
    if (!options.allowOutside && (within.startsWith("..") || within.startsWith("/"))) {
      fail(`"${name}" is a link to "${real}", outside the job file's folder "${options.base}"`);
    }
  }
  const target = info.isSymlink ? await Deno.stat(real) : info;
  if (!target.isFile) fail(`"${name}" is not a regular file (a folder through a link, a FIFO, a device or a socket)`);
  return { name, path: real, size: target.size, executable: ((target.mode ?? 0) & 0o111) !== 0 };
}

/** Files (and links) under `base` as relative paths: git's list in a checkout, else every file but .git's. */
async function listCandidates(base: string, noIgnore: boolean): Promise<string[]> {
  if (!noIgnore) {
    const listed = await gitFiles(base);
    if (listed !== null) return listed;
  }
  return await walk(base);
}

/** What git would commit here (tracked, and untracked but not ignored), or null outside a checkout. */
async function gitFiles(base: string): Promise<string[] | null> {
  let output: Deno.CommandOutput;
  try {
    output = await new Deno.Command("git", {
      args: ["-C", base, "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
      stdin: "null",
      stdout: "piped",
      stderr: "null",
    }).output();
  } catch {
    return null; // no git here
  }
  if (!output.success) return null;
  const names = new TextDecoder().decode(output.stdout).split("\0").filter((name) => name !== "");
  // A tracked file deleted in the work tree is listed too: only what is there is shipped.
  const present: string[] = [];
  for (const name of new Set(names)) {
    if (await Deno.lstat(join(base, name)).then(() => true, () => false)) present.push(name);
  }
  return present;
}

/** Files and links under `root`, iteratively, bounded; .git folders and links to folders are not entered. */
async function walk(root: string): Promise<string[]> {
  const found: string[] = [];
  const stack = [""];
  let seen = 0;
  while (stack.length > 0) {
    const dir = stack.pop()!;
    for await (const entry of Deno.readDir(dir === "" ? root : join(root, dir))) {
      if (++seen > MAX_PACK_ENTRIES * 2) {
        throw new PackError(null, `the folder "${root}" holds more than ${MAX_PACK_ENTRIES * 2} entries to look at`);
      }
      const name = dir === "" ? entry.name : `${dir}/${entry.name}`;
      if (entry.isDirectory) {
        if (entry.name !== ".git") stack.push(name);
      } else found.push(name);
    }
  }
  return found;
}

/**
 * The tar of `sources` written to `file`, streamed: its SHA-256 and size. A file that changes size while
 * it is packed fails the pack.
 */
export async function writePack(
  sources: readonly PackSource[],
  file: string,
): Promise<{ sha256: string; size: number }> {
  // Loaded when a job has files to pack: every submit loads this module, most have none (~50 ms of CPU).
  const [{ createTarPacker }, { createHash }] = await Promise.all([import("modern-tar"), import("node:crypto")]);
  const { readable, controller } = createTarPacker();
  const hash = createHash("sha256");
  let size = 0;
  const out = await Deno.open(file, { write: true, create: true, truncate: true });
  const written = (async () => {
    try {
      for await (const chunk of readable) {
        hash.update(chunk);
        size += chunk.byteLength;
        for (let at = 0; at < chunk.byteLength;) at += await out.write(chunk.subarray(at));
      }
    } finally {
      out.close();
    }
  })();
  try {
    for (const source of sources) {
      const body = controller.add({
        name: source.name,
        size: source.size,
        type: "file",
        mode: source.executable ? 0o755 : 0o644,
        mtime: new Date(0),
        uid: 0,
        gid: 0,
        uname: "",
        gname: "",
      });
      const input = await Deno.open(source.path, { read: true });
      await input.readable.pipeTo(body); // closes the file at its end or on an error
    }
    controller.finalize();
  } catch (error) {
    controller.error(error);
    await written.catch(() => {});
    throw new PackError(null, `packing failed: ${(error as Error).message}`);
  }
  await written;
  return { sha256: hash.digest("hex"), size };
}

class Lazy<T> {
  #make: () => Promise<T>;
  #value: Promise<T> | null = null;
  constructor(make: () => Promise<T>) {
    this.#make = make;
  }
  get(): Promise<T> {
    return this.#value ??= this.#make();
  }
}

function reasonOf(error: unknown): string {
  if (error instanceof Deno.errors.NotFound) return "no such file or folder";
  if (error instanceof Deno.errors.PermissionDenied) return "permission denied";
  return (error as Error).message;
}
