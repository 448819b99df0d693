/** `fabric dev`: a tracker and one agent in one process, on loopback, in a throwaway directory (like `nomad agent -dev`). */
import { join } from "node:path";
import { startAgent } from "../agent/mod.ts";
import { startTrackerServer } from "../tracker/mod.ts";
import { hostPortFlag, intFlag, parseFlags, stringFlag, UsageError, wantsHelp } from "./args.ts";
import { lockDataDir } from "./data_dir_lock.ts";
import { daemonLog, untilSignal } from "./logger.ts";

const USAGE = `
fabric dev [--listen HOST:PORT] [--slots N] [--data-dir DIR]

A tracker and one local agent in one command, on loopback, with a temporary data directory that is
removed on exit (unless --data-dir is given). Prints how to submit to it.
`;

export async function devCommand(args: string[]): Promise<number> {
  const parsed = parseFlags("dev", args, {
    listen: { type: "string" },
    slots: { type: "string" },
    "data-dir": { type: "string" },
  });
  if (wantsHelp(parsed, USAGE)) return 0;
  if (parsed.positionals.length > 0) throw new UsageError("fabric dev takes no arguments");
  const listen = hostPortFlag(stringFlag(parsed, "listen") ?? "127.0.0.1:0", "--listen");
  const given = stringFlag(parsed, "data-dir");
  const root = given ?? (await Deno.makeTempDir({ prefix: "fabric-dev-" }));
  const locks = [await lockDataDir(join(root, "tracker"), "tracker"), await lockDataDir(join(root, "agent"), "agent")];
  const log = daemonLog("dev");
  const tracker = await startTrackerServer({
    dataDir: join(root, "tracker"),
    hostname: listen.hostname,
    port: listen.port,
    log,
  });
  try {
    const token = (await Deno.readTextFile(join(root, "tracker", "join.token"))).trim();
    const agent = await startAgent({
      dataDir: join(root, "agent"),
      join: `${listen.hostname.includes(":") ? `[${listen.hostname}]` : listen.hostname}:${tracker.port}`,
      token,
      caPem: tracker.caPem,
      name: "dev",
      slots: intFlag(parsed, "slots", 1, 4096),
      log,
    });
    console.log(`fabric dev: tracker ${tracker.url} with agent "${agent.name}"; data in ${root}`);
    console.log("Point clients at it (in another terminal):");
    console.log(`  export FABRIC_TRACKER=${tracker.url}`);
    console.log(`  export FABRIC_TOKEN=$(cat ${join(root, "tracker", "admin.token")})`);
    console.log(`  export FABRIC_CA=${join(root, "tracker", "ca.pem")}`);
    console.log("  fabric submit --wait jobs/hello.yaml");
    console.log("Stop with Ctrl-C.");
    const outcome = await Promise.race([untilSignal(), agent.done.then(() => null)]);
    if (outcome) {
      const stopped = agent.stop();
      untilSignal().then(() => agent.stop());
      await stopped;
    }
    await agent.done.catch((error) => log(error.message));
  } finally {
    await tracker.close();
    for (const lock of locks) lock.release();
    if (!given) await Deno.remove(root, { recursive: true }).catch(() => {});
  }
  return 0;
}
