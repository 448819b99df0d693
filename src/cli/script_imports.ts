/**
 * A script task's local modules: the relative imports of its entry file, followed (each module read
 * once, iteratively, at most MAX_SCRIPT_MODULES), shipped with it in its pack so that a TypeScript task
 * split across files runs. Only relative specifiers ("./", "../") are local; anything else (npm:,
 * jsr:, https:) is Deno's to fetch. The imports are found in the text (static `import`/`export ...
 * from`, `import "x"` and `import("x")` with a literal), which may find one inside a comment or a
 * string too: that file is then shipped needlessly, or reported missing (rename it away or add it).
 */
import { join, posix, relative } from "node:path";
import { MAX_SCRIPT_BYTES } from "../protocol/limits.ts";
import { readRegularFile } from "./job_input.ts";

/** Modules one script task may ship (its entry's imports followed). */
export const MAX_SCRIPT_MODULES = 1000;

const IMPORT = /(?:\bfrom\s*|\bimport\s*\(?\s*)(["'])(\.\.?\/[^"'\n]{0,1024})\1/g;

/**
 * The paths (relative to `base`, with `/`) of the entry script and every module it imports relatively,
 * directly or not; an Error saying which file and import cannot be shipped.
 */
export async function scriptModules(base: string, script: string): Promise<string[]> {
  const seen = new Set<string>([posix.normalize(script)]);
  const queue = [posix.normalize(script)];
  for (let next = 0; next < queue.length; next++) {
    const module = queue[next];
    let text: string;
    try {
      text = new TextDecoder().decode(await readRegularFile(join(base, module), MAX_SCRIPT_BYTES));
    } catch (error) {
      throw new Error(`"${module}" cannot be read: ${(error as Error).message}`);
    }
    for (const match of text.matchAll(IMPORT)) {
      const target = posix.normalize(posix.join(posix.dirname(module), match[2].split(/[?#]/)[0]));
      if (target.startsWith("../") || target === "..") {
        throw new Error(
          `"${module}" imports "${match[2]}", outside the job file's folder; a script's modules must lie inside it`,
        );
      }
      if (seen.has(target)) continue;
      const real = await Deno.realPath(join(base, target)).catch(() => null);
      if (real === null) throw new Error(`"${module}" imports "${match[2]}", and "${target}" does not exist`);
      const inside = relative(base, real);
      if (inside.startsWith("..") || inside.startsWith("/")) {
        throw new Error(
          `"${module}" imports "${match[2]}", which resolves to "${real}", outside the job file's folder`,
        );
      }
      seen.add(target);
      if (seen.size > MAX_SCRIPT_MODULES) {
        throw new Error(`"${script}" imports more than ${MAX_SCRIPT_MODULES} modules; ship them with files: instead`);
      }
      queue.push(target);
    }
  }
  return [...seen];
}
