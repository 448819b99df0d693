/**
 * What a task whose job grants channels gets (docs/channels.md, "From tasks"): its socket
 * (channel_socket.ts), a secret of its attempt, and `fabric` on its PATH, so that `fabric channel ...`
 * works inside it as outside: FABRIC_TRACKER=unix:SOCKET and FABRIC_CHANNEL_TOKEN in its environment
 * (never on a command line), and a launcher in `.fabric/bin`.
 *
 * The launcher runs this fabric as the agent runs: a compiled agent's own binary, bound into the sandbox
 * read-only; under `deno run`, the same deno with this source and the npm packages of Deno's cache, both
 * bound read-only (a compiled fabric starts in a fraction of the time: no source to read and compile), the cache named in the launcher only (a script task's own DENO_DIR is its own). A
 * task the sandbox does not hold (--allow-unsandboxed) runs as the task user on the host, where the
 * cache of an agent running as root is not readable (/root is 0700): there only a compiled fabric works.
 */
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { AttemptRef } from "../protocol/mod.ts";
import { type ChannelClient, serveChannelSocket } from "./channel_socket.ts";

export interface TaskChannels {
  env: Record<string, string>;
  /** Paths the launcher needs, bound read-only into the sandbox. */
  readPaths: string[];
  close(): Promise<void>;
}

/** Opened once the task's directory is the task user's (its socket and launcher stay the agent's). */
export function openTaskChannels(
  options: { metaDir: string; task: AttemptRef; client: ChannelClient; basePath: string },
): TaskChannels {
  const token = Array.from(crypto.getRandomValues(new Uint8Array(32)), (b) => b.toString(16).padStart(2, "0")).join("");
  const path = join(options.metaDir, "channels.sock");
  const binDir = join(options.metaDir, "bin");
  const socket = serveChannelSocket({ path, token, task: options.task, client: options.client });
  const launcher = fabricLauncher();
  try {
    Deno.mkdirSync(binDir, { mode: 0o755 });
    Deno.writeTextFileSync(join(binDir, "fabric"), launcher.script, { mode: 0o755 });
    Deno.chmodSync(join(binDir, "fabric"), 0o755);
  } catch (error) {
    socket.close().catch(() => {});
    throw error;
  }
  return {
    env: { FABRIC_TRACKER: `unix:${path}`, FABRIC_CHANNEL_TOKEN: token, PATH: `${binDir}:${options.basePath}` },
    readPaths: launcher.readPaths,
    async close() {
      await socket.close();
      try {
        Deno.removeSync(binDir, { recursive: true });
      } catch { /* gone, or the task's doing: the directory is then not kept */ }
    },
  };
}

/** The launcher's script and what it reads. */
function fabricLauncher(): { script: string; readPaths: string[] } {
  const self = Deno.execPath();
  if (Deno.build.standalone) return { script: `#!/bin/sh\nexec ${quote(self)} "$@"\n`, readPaths: [self] };
  const main = fileURLToPath(new URL("../../main.ts", import.meta.url));
  const source = dirname(main);
  const denoDir = Deno.env.get("DENO_DIR") ??
    join(Deno.env.get("XDG_CACHE_HOME") ?? join(Deno.env.get("HOME") ?? "/root", ".cache"), "deno");
  const script = `#!/bin/sh\nDENO_DIR=${quote(denoDir)} DENO_NO_UPDATE_CHECK=1 exec ${quote(self)} run -A --quiet ` +
    `--no-lock --config ${quote(join(source, "deno.json"))} ${quote(main)} "$@"\n`;
  // Of the cache, only its npm packages: the rest (compiled code, other programs' local storage) is not the
  // task's to read, and Deno does without it (measured: a call starts in ~0.9 s, ~0.4 s with the whole cache).
  // Of the source, what runs (not the rest of its checkout: its .git, a test's files).
  const code = [main, join(source, "deno.json"), join(source, "src")];
  return { script, readPaths: [self, ...code, join(denoDir, "npm")] };
}

function quote(text: string): string {
  return `'${text.replaceAll("'", `'\\''`)}'`;
}
