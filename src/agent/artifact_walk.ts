/**
 * Which files of a task's directory its `artifacts:` globs match: a walk, iterative and bounded, that
 * enters only the folders a glob could match something under (`dist/**` never walks `node_modules`),
 * and says what it leaves out that a glob names (a link, a FIFO, a device: never followed, never kept).
 */
import { join, matchesGlob } from "node:path";
import { MAX_PACK_PATH } from "../protocol/mod.ts";
import { shown } from "./unpack.ts";

/** Entries looked at in a task's directory, at most. */
export const MAX_WALK_ENTRIES = 100_000;

/** A glob's special characters: the literal part of a pattern ends at the first segment holding one. */
const GLOB_CHARS = /[*?[\]{}()!+@]/;

/** Whether `path` (relative to the task's directory) is one the patterns keep: a glob's match, or under a folder. */
export function matchesArtifact(path: string, patterns: readonly string[]): boolean {
  return patterns.some((pattern) => {
    const folder = pattern.replace(/\/+$/, "");
    return matchesGlob(path, pattern) || path.startsWith(`${folder}/`);
  });
}

/**
 * Whether a folder at `dir` may hold a match of one of `patterns`: its path and the pattern's literal
 * segments agree as far as both go, and a pattern without `**` is not shallower than the folder.
 */
export function mayHoldMatches(dir: string, patterns: readonly string[]): boolean {
  const parts = dir.split("/");
  return patterns.some((pattern) => {
    const segments = pattern.replace(/\/+$/, "").split("/").filter((s) => s !== "" && s !== ".");
    const literal: string[] = [];
    for (const segment of segments) {
      if (GLOB_CHARS.test(segment)) break;
      literal.push(segment);
    }
    const exact = literal.length === segments.length; // a path or a folder: everything under it
    const deep = segments.some((s) => s.includes("**"));
    for (let i = 0; i < Math.min(parts.length, literal.length); i++) if (parts[i] !== literal[i]) return false;
    if (parts.length <= literal.length || exact || deep) return true;
    // A glob such as `reports/*/x.xml` reaches down as many folders as it has segments, no further.
    return parts.length < segments.length;
  });
}

/**
 * The regular files under `dir` that `patterns` match (relative paths, sorted); links and other
 * non-files a pattern matches are said and left out. `seen` is how many entries were looked at.
 */
export async function walkArtifacts(
  dir: string,
  options: { patterns: readonly string[]; skip: readonly string[]; say: (line: string) => void },
): Promise<{ files: string[]; seen: number }> {
  const { patterns, skip, say } = options;
  const files: string[] = [];
  const stack = [""];
  let seen = 0;
  while (stack.length > 0) {
    const sub = stack.pop()!;
    let entries: Deno.DirEntry[];
    try {
      entries = await Array.fromAsync(Deno.readDir(sub === "" ? dir : join(dir, sub)));
    } catch {
      continue; // gone, or not a folder any more
    }
    for (const entry of entries) {
      if (++seen > MAX_WALK_ENTRIES) {
        say(`the task's directory holds more than ${MAX_WALK_ENTRIES} entries: artifacts are looked for in the first`);
        return { files: files.sort(), seen };
      }
      if (sub === "" && skip.includes(entry.name)) continue;
      const path = sub === "" ? entry.name : `${sub}/${entry.name}`;
      if (path.length > MAX_PACK_PATH) continue; // no glob of at most that many characters names it
      if (entry.isDirectory) {
        if (mayHoldMatches(path, patterns)) stack.push(path);
      } else if (!matchesArtifact(path, patterns)) continue;
      else if (entry.isFile) files.push(path);
      else if (entry.isSymlink) say(`artifact "${shown(path)}" is not kept: skipped link (links are never followed)`);
      else say(`artifact "${shown(path)}" is not kept: it is not a regular file`);
    }
  }
  return { files: files.sort(), seen };
}
