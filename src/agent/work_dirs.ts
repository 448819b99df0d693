/**
 * Task directories: one per attempt, `work/TASK-ATTEMPT` with `.fabric/` (fabric's files for the task)
 * and, for a task outside the sandbox, `tmp/`. A directory the task left exactly as it got it is kept
 * and renamed for the next task: on ext4 making and removing three directories per task cost about a
 * tenth of the machine's CPU in the throughput bench (block allocation, and a discard on every rmdir),
 * a rename almost nothing. Synchronous calls: a few metadata calls cost less than a thread hop each.
 *
 * What a task leaves is trusted in nothing: a directory is handed on only if it is exactly as it was
 * made (no entry, no link, the same mode), and one it changed is removed without following a link
 * and without a recursive walk (see removeTree).
 */
import { join } from "node:path";
import { findExecutable, listable } from "../exec/mod.ts";

export interface TaskPaths {
  workDir: string;
  /** Scratch space: TMPDIR for unsandboxed tasks (sandboxed ones get a private /tmp). */
  tmpDir: string;
  /** fabric's own files for the task: output, needs, script. */
  metaDir: string;
  outputFile: string;
}

export function taskPaths(workRoot: string, name: string): TaskPaths {
  const workDir = join(workRoot, name);
  const metaDir = join(workDir, ".fabric");
  return { workDir, tmpDir: join(workDir, "tmp"), metaDir, outputFile: join(metaDir, "output.json") };
}

/** Kept directories per shape (with `tmp/` or without). */
const MAX_KEPT = 8;

export class WorkDirs {
  readonly root: string;
  #kept = { withTmp: [] as string[], withoutTmp: [] as string[] };
  #next = 0;
  /** The mode of a directory as this agent makes it (its umask applied), once it has made one. */
  #madeMode: number | null = null;

  constructor(root: string) {
    this.root = root;
  }

  /** Creates the attempt's directories, empty. */
  make(paths: TaskPaths, withTmp: boolean): void {
    const kept = withTmp ? this.#kept.withTmp : this.#kept.withoutTmp;
    for (let dir = kept.pop(); dir; dir = kept.pop()) {
      try {
        Deno.renameSync(dir, paths.workDir);
        return;
      } catch {
        // Gone (the work root was cleared): make a new one.
      }
    }
    try {
      Deno.mkdirSync(paths.workDir);
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
      Deno.mkdirSync(paths.workDir, { recursive: true });
    }
    Deno.mkdirSync(paths.metaDir);
    if (withTmp) Deno.mkdirSync(paths.tmpDir);
    this.#madeMode ??= modeOf(Deno.lstatSync(paths.metaDir));
  }

  /**
   * Keeps the directory for the next task if the task left it as it got it (and `keep` allows: only
   * when nothing the task started can still be running there); removes it otherwise.
   */
  async release(paths: TaskPaths, withTmp: boolean, options: { keep?: boolean } = {}): Promise<void> {
    const kept = withTmp ? this.#kept.withTmp : this.#kept.withoutTmp;
    const contained = options.keep ?? true;
    if (contained && kept.length < MAX_KEPT && this.#untouched(paths, withTmp)) {
      const spare = join(this.root, `.kept-${this.#next++}`);
      try {
        Deno.renameSync(paths.workDir, spare);
        kept.push(spare);
        return;
      } catch {
        // Removed below.
      }
    }
    // Nothing of a contained task runs any more, so nothing changes the directory while it goes.
    if (contained && removeEmpty(paths)) return;
    await removeTree(paths.workDir);
  }

  /** Exactly the empty directories it was given, with the mode they were made with (not links). */
  #untouched(paths: TaskPaths, withTmp: boolean): boolean {
    try {
      const dirs = withTmp ? [paths.workDir, paths.metaDir, paths.tmpDir] : [paths.workDir, paths.metaDir];
      for (const dir of dirs) {
        // Small enough to list: a directory the task filled is not read through here.
        const info = Deno.lstatSync(dir);
        if (!listable(info) || modeOf(info) !== this.#madeMode) return false;
      }
      const names = [...Deno.readDirSync(paths.workDir)].map((entry) => entry.name).sort();
      if (names.join("/") !== (withTmp ? ".fabric/tmp" : ".fabric")) return false;
      return dirs.slice(1).every((dir) => Deno.readDirSync(dir)[Symbol.iterator]().next().done === true);
    } catch {
      return false;
    }
  }
}

function modeOf(info: Deno.FileInfo): number | null {
  return info.mode === null ? null : info.mode & 0o7777;
}

/**
 * Removes the task's directory if all it holds is its own empty directories (a remove never follows a
 * link in the last place of its path, and the directory itself is checked first); false if there is more.
 */
function removeEmpty(paths: TaskPaths): boolean {
  try {
    // In its place, a link (or a file) is removed itself, never what it points to.
    if (!Deno.lstatSync(paths.workDir).isDirectory) {
      Deno.removeSync(paths.workDir);
      return true;
    }
    for (const dir of [paths.tmpDir, paths.metaDir, paths.workDir]) {
      try {
        Deno.removeSync(dir);
      } catch (error) {
        if (!(error instanceof Deno.errors.NotFound)) throw error;
      }
    }
    return true;
  } catch (error) {
    return error instanceof Deno.errors.NotFound;
  }
}

/**
 * Removes a directory a task may have filled, without following a link. Not with a recursive walk,
 * ours or Deno's: a tree ~10,000 directories deep overflowed the agent's stack, which aborted it (and
 * again at each start, which clears the work directory). `rm -rf` walks any depth iteratively.
 */
export async function removeTree(path: string): Promise<void> {
  const rm = findExecutable("rm", "/usr/bin:/bin");
  if (rm === null) {
    await Deno.remove(path, { recursive: true }).catch(() => {});
    return;
  }
  await new Deno.Command(rm, {
    args: ["-rf", "--one-file-system", "--", path],
    clearEnv: true,
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).output().catch(() => {});
}
