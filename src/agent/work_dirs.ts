/**
 * Task directories: one per attempt, `work/TASK-ATTEMPT` with `.fabric/` (fabric's files for the task)
 * and, for a task outside the sandbox, `tmp/`. A directory the task left exactly as it got it is kept
 * and renamed for the next task: on ext4 making and removing three directories per task cost about a
 * tenth of the machine's CPU in the throughput bench (block allocation, and a discard on every rmdir),
 * a rename almost nothing. Synchronous calls: a few metadata calls cost less than a thread hop each.
 */
import { join } from "node:path";

export interface TaskPaths {
  workDir: string;
  /** Scratch space: TMPDIR for scripts and unsandboxed tasks (sandboxed ones get a private /tmp). */
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
  }

  /**
   * Keeps the directory for the next task if the task left it as it got it (and `keep` allows: only
   * when nothing the task started can still be running there); removes it otherwise.
   */
  async release(paths: TaskPaths, withTmp: boolean, options: { keep?: boolean } = {}): Promise<void> {
    const kept = withTmp ? this.#kept.withTmp : this.#kept.withoutTmp;
    if ((options.keep ?? true) && kept.length < MAX_KEPT && untouched(paths, withTmp)) {
      const spare = join(this.root, `.kept-${this.#next++}`);
      try {
        Deno.renameSync(paths.workDir, spare);
        kept.push(spare);
        return;
      } catch {
        // Removed below.
      }
    }
    try {
      for (const dir of [paths.tmpDir, paths.metaDir, paths.workDir]) {
        try {
          Deno.removeSync(dir);
        } catch (error) {
          if (!(error instanceof Deno.errors.NotFound)) throw error;
        }
      }
    } catch {
      await Deno.remove(paths.workDir, { recursive: true }).catch(() => {});
    }
  }
}

/** Exactly the empty directories it was given, still fully the agent's to use (not symlinks, owner rwx). */
function untouched(paths: TaskPaths, withTmp: boolean): boolean {
  try {
    const dirs = withTmp ? [paths.workDir, paths.metaDir, paths.tmpDir] : [paths.workDir, paths.metaDir];
    const names = [...Deno.readDirSync(paths.workDir)].map((entry) => entry.name).sort();
    if (names.join("/") !== (withTmp ? ".fabric/tmp" : ".fabric")) return false;
    for (const dir of dirs) {
      const info = Deno.lstatSync(dir);
      if (!info.isDirectory || ((info.mode ?? 0) & 0o700) !== 0o700) return false;
    }
    return dirs.slice(1).every((dir) => Deno.readDirSync(dir)[Symbol.iterator]().next().done === true);
  } catch {
    return false;
  }
}
