/**
 * `deno task compile [--output FILE]`: `deno compile` of main.ts into dist/fabric, with every module any
 * command may load. deno.json asks Deno to load a dynamic import only when it runs (the unstable
 * lazy-dynamic-imports: `deno run main.ts --version` otherwise reads all ~360 modules first), and deno
 * compile follows that setting too: it would embed what main.ts imports statically and nothing of the
 * commands it loads, and every command of the executable would fail. So the executable is compiled with
 * a copy of deno.json without it (same imports, compiler options and lock file).
 */
import { join } from "node:path";

const REPO = new URL("..", import.meta.url).pathname;
/** What the executable needs beside main.ts's graph: workers (by URL) and the dashboard's files. */
const INCLUDES = ["src/store/sqlite_writer.ts", "src/tracker/lease_worker.ts", "src/tracker/dashboard/assets"];
const LAZY = "lazy-dynamic-imports";

/** The arguments of deno compile; `config` is the copy of deno.json to compile with. */
function compileArgs(config: string, output: string): string[] {
  const includes = INCLUDES.flatMap((path) => ["--include", path]);
  return ["compile", "-A", "--config", config, "--lock", join(REPO, "deno.lock"), ...includes, "--output", output];
}

/** deno.json's text without the lazy loading of dynamic imports. */
function compileConfig(denoJson: string): string {
  const config = JSON.parse(denoJson) as { unstable?: string[] };
  const unstable = (config.unstable ?? []).filter((feature) => feature !== LAZY);
  if (unstable.length > 0) config.unstable = unstable;
  else delete config.unstable;
  return JSON.stringify(config, null, 2);
}

async function main(args: string[]): Promise<number> {
  const at = args.indexOf("--output");
  const output = at >= 0 && args[at + 1] ? args[at + 1] : join(REPO, "dist", "fabric");
  // In the checkout's top folder, as deno.json is: deno compile embeds files relative to the config's
  // folder (a config elsewhere made the executable's root "/"). Named at random: a test compiles too.
  const config = join(REPO, `.compile-${crypto.randomUUID().slice(0, 8)}.deno.json`);
  await Deno.writeTextFile(config, compileConfig(await Deno.readTextFile(join(REPO, "deno.json"))));
  try {
    const { code } = await new Deno.Command(Deno.execPath(), {
      args: [...compileArgs(config, output), join(REPO, "main.ts")],
      cwd: REPO,
    }).spawn().status;
    return code;
  } finally {
    await Deno.remove(config).catch(() => {});
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
