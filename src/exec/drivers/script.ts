/**
 * The script driver: a TypeScript file run by Deno, in the same sandbox as any task (unless it opts
 * out), with Deno's flags as a second layer: exactly the flags the task's permissions grant,
 * `--no-prompt` so a missing one fails instead of waiting for a terminal, and `--no-config` so a
 * deno.json that happens to sit above the task directory changes nothing. The sandbox is not
 * optional for safety: Deno does not hold `import` of a local file (module or JSON) to `--allow-read`.
 *
 * Each attempt has a Deno cache of its own (DENO_DIR), in its private /tmp, gone with it: Deno
 * trusts what its cache holds (a module cached under a URL is run as that URL's, with no check of
 * its content), so a cache one job's script can write is code another job's script would run. Deno
 * has one cache directory, written as it runs, so a read-only shared cache under a private one is
 * not a choice it offers. The cost: a script fetches its remote modules every time (a script
 * without network cannot use any), and a local one runs in ~the same time as with a warm cache.
 */
import { basename, dirname, join } from "node:path";
import type { Permissions } from "../../protocol/mod.ts";
import { findExecutable } from "../_path_lookup.ts";
import type { Launch, TaskContext, TaskDriver } from "../driver.ts";
import { startProcess } from "../process.ts";

export const scriptDriver: TaskDriver<"script"> = {
  kind: "script",
  async prepare(task, { host, dirs, sandboxed, env }) {
    if (host.deno === null) throw new Error("this agent has no Deno runtime for script tasks");
    const scriptFile = scriptPlace(task.script.name, {
      metaDir: dirs.metaDir,
      workDir: dirs.workDir,
      packed: !!task.pack,
    });
    // Its folder may not be in the pack (a job's files: that leave out the script's own).
    await Deno.mkdir(dirname(scriptFile), { recursive: true });
    await Deno.writeTextFile(scriptFile, task.script.content);
    return denoLaunch(scriptFile, task.permissions, { host, dirs, sandboxed, env });
  },
  start: startProcess,
};

/** How to run `scriptFile` with the agent's deno under `permissions` (the script driver's, an add-on's). */
export function denoLaunch(
  scriptFile: string,
  permissions: Permissions,
  { host, dirs, sandboxed, env }: Pick<TaskContext, "host" | "dirs" | "sandboxed" | "env">,
): Launch {
  if (host.deno === null) throw new Error("this agent has no Deno runtime for script tasks");
  const tmpDir = sandboxed ? "/tmp" : dirs.tmpDir;
  const denoEnv = { DENO_DIR: join(tmpDir, "deno-cache"), DENO_NO_UPDATE_CHECK: "1" };
  const command = scriptCommand({
    denoPath: host.deno,
    scriptFile,
    workDir: dirs.workDir,
    tmpDir,
    permissions,
    envNames: [...Object.keys(env), ...Object.keys(denoEnv)],
  });
  return { command, env: denoEnv, readPaths: [host.deno] };
}

/**
 * Where the script is written and run from: in fabric's own folder of the task; or, when the job shipped
 * its modules (a pack, unpacked in the task's directory already), at its own path among them, so that
 * its relative imports resolve. Its content is always the job's (what a --verify-key agent checked),
 * written over the pack's copy. The path was checked at submit (relative, no ".."); checked again here.
 */
export function scriptPlace(name: string, where: { metaDir: string; workDir: string; packed: boolean }): string {
  const parts = name.split("/");
  const relativeInside = !name.startsWith("/") && parts.every((part) => part !== "" && part !== "." && part !== "..");
  if (where.packed && relativeInside && parts[0] !== ".fabric") return join(where.workDir, ...parts);
  const file = basename(name) || "script.ts";
  return join(where.metaDir, /\.(ts|tsx|js|mjs|jsx)$/.test(file) ? file : `${file}.ts`);
}

export interface ScriptCommandOptions {
  denoPath: string;
  scriptFile: string;
  workDir: string;
  tmpDir: string;
  permissions: Permissions;
  /** Names of the variables in the task's environment. */
  envNames: string[];
}

/**
 * `deno run --no-prompt ... <scriptFile>` with an `--allow-*` flag for each non-empty permission.
 * Throws RangeError for a path or name with a comma, which Deno's flags cannot express.
 */
export function scriptCommand(options: ScriptCommandOptions): string[] {
  const { permissions, workDir, tmpDir } = options;
  const net = permissions.net;
  const args = [options.denoPath, "run", "--no-prompt", "--no-config"];
  const noNetwork = net === false || (Array.isArray(net) && net.length === 0);
  // Without network a remote import could not be fetched anyway: fail on it at once, clearly.
  if (noNetwork) args.push("--cached-only");
  args.push(allow("read", [workDir, tmpDir, ...permissions.read]));
  args.push(allow("write", [workDir, tmpDir, ...permissions.write]));
  if (net === true) args.push("--allow-net");
  else if (!noNetwork) args.push(allow("net", net));
  const envNames = options.envNames.filter((name) => !name.startsWith("FABRIC_"));
  args.push(allow("env", ["FABRIC_*", ...envNames, ...permissions.env]));
  if (permissions.run.length > 0) args.push(allow("run", permissions.run));
  args.push(options.scriptFile);
  return args;
}

function allow(name: string, values: string[]): string {
  const unique = [...new Set(values)];
  // Deno splits the list on commas and has no escape for one.
  const bad = unique.find((value) => value.includes(","));
  if (bad !== undefined) {
    throw new RangeError(`Cannot grant --allow-${name} on "${bad}": Deno cannot name a value with a comma`);
  }
  return `--allow-${name}=${unique.join(",")}`;
}

/**
 * The deno that runs script tasks, by its real path (bound into the sandbox as it is): this process's
 * own binary when fabric runs from source, else `deno` on PATH (a compiled fabric is not a deno that
 * can run scripts). Null when there is none.
 */
export function findDeno(): Promise<string | null> {
  const self = Deno.execPath();
  const found = /^deno(\.exe)?$/.test(basename(self)) ? self : findExecutable("deno", Deno.env.get("PATH") ?? "");
  if (found === null) return Promise.resolve(null);
  try {
    return Promise.resolve(Deno.realPathSync(found));
  } catch {
    return Promise.resolve(null);
  }
}
