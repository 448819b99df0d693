/** What this machine can do for tasks, found by trying it rather than by looking for files. */
import { DEFAULT_PERMISSIONS } from "../protocol/mod.ts";
import { findExecutable, SYSTEM_PATH } from "./_path_lookup.ts";
import { detectCgroup } from "./cgroup_detect.ts";
import { bwrapArgs } from "./sandbox.ts";
import { findDeno } from "./drivers/script.ts";
import type { TaskUser } from "./task_user.ts";

export interface Capabilities {
  /** bwrap ran a command with the flags a task gets. */
  sandbox: boolean;
  /** Why it did not (bwrap's stderr), or null. */
  sandboxError: string | null;
  cgroup: "v1" | "v2" | null;
  /** The deno that runs script tasks. */
  deno: string | null;
  git: boolean;
}

export interface ProbeOptions {
  /** The agent's data directory: the probe's sandbox hides it, as a task's does. */
  dataDir: string;
  /** The bwrap to try; by default the one in PATH. */
  bwrapPath?: string;
  /** Who tasks run as, when not the agent's user: the probe's command switches to it, as a task's does. */
  user?: TaskUser | null;
}

export async function probeCapabilities(options: ProbeOptions): Promise<Capabilities> {
  const [sandbox, cgroup, deno, git] = await Promise.all([
    probeSandbox(options),
    detectCgroup(),
    findDeno(),
    succeeds(["git", "--version"]),
  ]);
  return { sandbox: sandbox === null, sandboxError: sandbox, cgroup: cgroup?.version ?? null, deno, git };
}

/** Runs `true` in the sandbox a task would get (its directory inside the hidden data directory); null when it works. */
async function probeSandbox({ dataDir, bwrapPath, user }: ProbeOptions): Promise<string | null> {
  const bwrap = bwrapPath ?? findExecutable("bwrap", Deno.env.get("PATH") ?? SYSTEM_PATH);
  if (bwrap === null) return `"bwrap" (bubblewrap) was not found in PATH`;
  await Deno.mkdir(dataDir, { recursive: true });
  const workDir = await Deno.makeTempDir({ dir: dataDir, prefix: "sandbox-probe-" });
  try {
    const [, ...args] = bwrapArgs({ workDir, permissions: DEFAULT_PERMISSIONS, hide: [dataDir], user });
    const output = await new Deno.Command(bwrap, {
      args: [...args, "true"],
      env: { PATH: SYSTEM_PATH },
      clearEnv: true,
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }).output();
    if (output.success) return null;
    const stderr = new TextDecoder().decode(output.stderr).trim();
    return stderr || `bwrap exited with code ${output.code}`;
  } catch (error) {
    return (error as Error).message;
  } finally {
    await Deno.remove(workDir, { recursive: true }).catch(() => {});
  }
}

async function succeeds(command: string[]): Promise<boolean> {
  try {
    const output = await new Deno.Command(command[0], { args: command.slice(1), stdout: "null", stderr: "null" })
      .output();
    return output.success;
  } catch {
    return false;
  }
}
