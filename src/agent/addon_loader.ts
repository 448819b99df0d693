/**
 * Loading the add-ons of `--addons DIR`: each folder in it with an `addon.yaml` is one add-on. Every
 * file of it is read here, once, into memory (what its tasks get is what was checked now, whatever
 * becomes of the folder later). The walk is iterative and bounded: so many add-ons, files per add-on,
 * bytes per file, per add-on and in all, and nesting. A link is followed only to a file inside its
 * add-on's folder; a link out of it, a FIFO or a device, an oversized file, a manifest or a schema
 * that does not hold: the add-on is skipped with the reason logged, and the agent starts without it.
 */
import { join, relative, sep } from "node:path";
import { addonKey, type AdvertisedAddon, MAX_ADDONS, MAX_ADVERTISED_ADDONS_BYTES } from "../protocol/mod.ts";
import type { AddonFile, LoadedAddon } from "../exec/mod.ts";
import { readManifest } from "./addon_manifest.ts";

export const ADDON_LIMITS = {
  /** Folders looked at in the add-ons directory. */
  addons: MAX_ADDONS,
  /** Files and folders in one add-on. */
  entries: 256,
  /** Folders inside folders, in one add-on. */
  depth: 16,
  manifestBytes: 64 * 1024,
  /** One add-on's files together. */
  addonBytes: 8 * 1024 * 1024,
  /** Every add-on's files together: they are kept in memory. */
  totalBytes: 64 * 1024 * 1024,
};
export type AddonLimits = typeof ADDON_LIMITS;

export const MANIFEST = "addon.yaml";

/** A reason to skip an add-on (its message is the reason). */
class Skip extends Error {}

export interface LoadedAddons {
  /** By `NAME@VERSION`. */
  addons: Map<string, LoadedAddon>;
  /** One line per add-on skipped, with the reason. */
  skipped: string[];
}

export interface LoadOptions {
  /** Whether this agent has a deno for script tasks: without one, an add-on that is a script is skipped. */
  deno: boolean;
  limits?: AddonLimits;
}

/** The add-ons of `dir` (none when it does not exist). */
export async function loadAddons(dir: string, options: LoadOptions): Promise<LoadedAddons> {
  const limits = options.limits ?? ADDON_LIMITS;
  const addons = new Map<string, LoadedAddon>();
  const skipped: string[] = [];
  let root: string;
  try {
    root = await Deno.realPath(dir);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return { addons, skipped };
    return { addons, skipped: [`the add-ons folder "${dir}" cannot be read: ${(error as Error).message}`] };
  }
  const names: string[] = [];
  for await (const entry of Deno.readDir(root)) {
    if (names.length === limits.addons) {
      skipped.push(`"${dir}" holds more than ${limits.addons} entries: the rest are not looked at`);
      break;
    }
    names.push(entry.name);
  }
  names.sort();
  let total = 0;
  let advertisedBytes = 0;
  for (const name of names) {
    const folder = join(root, name);
    const shown = join(dir, name);
    try {
      const info = await Deno.lstat(folder);
      if (info.isSymlink) throw new Skip("is a link: an add-on is a folder of its own");
      if (!info.isDirectory) continue;
      const addon = await loadAddon(folder, limits, limits.totalBytes - total);
      if ("script" in addon.run && !options.deno) throw new Skip("it is a script, and this agent has no Deno runtime");
      const key = addonKey(addon);
      if (addons.has(key)) throw new Skip(`${MANIFEST}: ${key} is loaded already from another folder`);
      const size = JSON.stringify(advertised([addon])).length;
      if (advertisedBytes + size > MAX_ADVERTISED_ADDONS_BYTES) {
        throw new Skip(`what the agent advertises of its add-ons would pass ${MAX_ADVERTISED_ADDONS_BYTES} bytes`);
      }
      advertisedBytes += size;
      addons.set(key, addon);
      total += addon.files.reduce((n, file) => n + file.data.length, 0);
    } catch (error) {
      const reason = error instanceof Skip ? error.message : `cannot be read: ${(error as Error).message}`;
      skipped.push(`add-on "${shown}" skipped: ${reason}`);
    }
  }
  return { addons, skipped };
}

/** What the agent advertises of its add-ons. */
export function advertised(addons: Iterable<LoadedAddon>): AdvertisedAddon[] {
  return [...addons].map(({ name, version, description, parameters }) => ({ name, version, description, parameters }));
}

async function loadAddon(folder: string, limits: AddonLimits, room: number): Promise<LoadedAddon> {
  const files = await readFolder(folder, limits, Math.min(room, limits.addonBytes));
  const manifestFile = files.find((file) => file.path === MANIFEST);
  if (!manifestFile) throw new Skip(`it has no ${MANIFEST}`);
  if (manifestFile.data.length > limits.manifestBytes) {
    throw new Skip(`${MANIFEST} is ${manifestFile.data.length} bytes; at most ${limits.manifestBytes}`);
  }
  let raw: unknown;
  try {
    const text = new TextDecoder("utf-8", { fatal: true }).decode(manifestFile.data);
    const yaml = await import("yaml");
    raw = yaml.parse(text, { uniqueKeys: true, maxAliasCount: 100, logLevel: "error" });
  } catch (error) {
    throw new Skip(`${MANIFEST} is not valid YAML: ${(error as Error).message.split("\n")[0]}`);
  }
  const read = readManifest(raw);
  if ("problems" in read) throw new Skip(`${MANIFEST}: ${read.problems.join("; ")}`);
  const { manifest } = read;
  if ("script" in manifest.run) {
    const script = manifest.run.script;
    if (!files.some((file) => file.path === script)) {
      throw new Skip(`${MANIFEST}: "script" names "${script}", which is not a file of the add-on`);
    }
  }
  return { ...manifest, files };
}

/**
 * Every regular file under `folder`, iteratively (a stack of folders), within the limits. A link is
 * read as the file it names only when that is a regular file inside `folder`.
 */
async function readFolder(folder: string, limits: AddonLimits, maxBytes: number): Promise<AddonFile[]> {
  const files: AddonFile[] = [];
  const stack: Array<{ dir: string; depth: number }> = [{ dir: folder, depth: 0 }];
  let entries = 0;
  let bytes = 0;
  while (stack.length > 0) {
    const { dir, depth } = stack.pop()!;
    for await (const entry of Deno.readDir(dir)) {
      if (++entries > limits.entries) throw new Skip(`it holds more than ${limits.entries} files and folders`);
      const path = join(dir, entry.name);
      const shown = relative(folder, path).split(sep).join("/");
      let info = await Deno.lstat(path);
      let source = path;
      if (info.isSymlink) {
        source = await insideTarget(folder, path, shown);
        info = await Deno.stat(source);
        if (!info.isFile) throw new Skip(`"${shown}" is a link to something other than a file`);
      }
      if (info.isDirectory) {
        if (depth + 1 > limits.depth) throw new Skip(`its folders nest deeper than ${limits.depth}`);
        stack.push({ dir: path, depth: depth + 1 });
        continue;
      }
      if (!info.isFile) throw new Skip(`"${shown}" is not a regular file (a FIFO, socket or device)`);
      const data = shown === MANIFEST
        ? await readBounded(source, Math.min(limits.manifestBytes, maxBytes - bytes), `${MANIFEST} is larger than`)
        : await readBounded(source, maxBytes - bytes, `"${shown}" takes the add-on's files past`);
      bytes += data.length;
      files.push({ path: shown, data, executable: ((info.mode ?? 0) & 0o111) !== 0 });
    }
  }
  files.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return files;
}

/** The real path a link leads to, if it stays inside `folder`. */
async function insideTarget(folder: string, path: string, shown: string): Promise<string> {
  let target: string;
  try {
    target = await Deno.realPath(path);
  } catch {
    throw new Skip(`"${shown}" is a link to nothing`);
  }
  const rel = relative(folder, target);
  if (rel === "" || rel.startsWith("..") || rel.startsWith(sep)) {
    throw new Skip(`"${shown}" is a link out of the add-on's folder`);
  }
  return target;
}

/**
 * At most `room` bytes of the file: reading stops past it, whatever the file claims or becomes
 * meanwhile; past it, the add-on is skipped with `tooLarge` and the room.
 */
async function readBounded(path: string, room: number, tooLarge: string): Promise<Uint8Array> {
  using file = await Deno.open(path, { read: true });
  const info = await file.stat();
  if (!info.isFile) throw new Skip(`"${path}" is not a regular file`);
  const chunks: Uint8Array[] = [];
  let size = 0;
  const buffer = new Uint8Array(64 * 1024);
  while (true) {
    const n = await file.read(buffer);
    if (n === null) break;
    size += n;
    if (size > room) throw new Skip(`${tooLarge} ${room} bytes`);
    chunks.push(buffer.slice(0, n));
  }
  const data = new Uint8Array(size);
  let at = 0;
  for (const chunk of chunks) {
    data.set(chunk, at);
    at += chunk.length;
  }
  return data;
}
