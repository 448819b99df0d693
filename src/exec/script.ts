/**
 * Script tasks run by Deno, whose permissions are their sandbox: exactly the flags the task's
 * permissions grant, `--no-prompt` so a missing one fails instead of waiting for a terminal, and
 * `--no-config` so a deno.json that happens to sit above the task directory changes nothing.
 * They do not run under bwrap, but they do get the memory cgroup like any task.
 */
import { basename } from "node:path";
import type { Permissions } from "../protocol/mod.ts";
import { findExecutable } from "./_path_lookup.ts";

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
 * The deno that runs script tasks: this process's own binary when fabric runs from source, else
 * `deno` on PATH (a compiled fabric is not a deno that can run scripts). Null when there is none.
 */
export function findDeno(): Promise<string | null> {
  const self = Deno.execPath();
  if (/^deno(\.exe)?$/.test(basename(self))) return Promise.resolve(self);
  return Promise.resolve(findExecutable("deno", Deno.env.get("PATH") ?? ""));
}
