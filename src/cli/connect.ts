/**
 * Where the tracker is and how to prove who we are: flags, then FABRIC_* variables, then the local
 * tracker's data directory (so on the tracker's own machine no flags are needed).
 */
import { join } from "node:path";
import { FabricClient } from "../client/mod.ts";
import { type Parsed, stringFlag, UsageError } from "./args.ts";
import { defaultTrackerDir } from "./paths.ts";

export const CONNECTION_FLAGS = {
  tracker: { type: "string" },
  token: { type: "string" },
  ca: { type: "string" },
} as const;

export const CONNECTION_HELP = `
Connection (flags, else environment, else the local tracker's data directory):
  --tracker URL   FABRIC_TRACKER   e.g. https://tracker.example:7443, or several, comma-separated
                                   (trackers sharing a store: the next is tried when one does not answer);
                                   inside a task that may use channels, unix:SOCKET (set by its agent,
                                   with FABRIC_CHANNEL_TOKEN)
  --token TOKEN   FABRIC_TOKEN     a client token (fabric token create) or the admin token
                                   (DIR/admin.token); prefer FABRIC_TOKEN: ps shows a command line
  --ca FILE       FABRIC_CA        the tracker's CA certificate (DIR/ca.pem)`;

/** No tracker is configured, or its files cannot be read: the tracker cannot be reached (exit 3). */
export class NoTrackerError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "NoTrackerError";
  }
}

export async function connect(parsed: Parsed): Promise<FabricClient> {
  const dir = Deno.env.get("FABRIC_DATA_DIR") ?? defaultTrackerDir();
  const local = await readLocal(dir);
  const url = stringFlag(parsed, "tracker") ?? env("FABRIC_TRACKER") ?? local.url;
  if (!url) {
    throw new NoTrackerError(
      `No tracker given: use --tracker URL or FABRIC_TRACKER (no local tracker found in ${dir})`,
    );
  }
  // Inside a task whose job grants channels: its agent's socket, with the attempt's own secret (no CA: no TLS).
  if (url.startsWith("unix:")) {
    const secret = stringFlag(parsed, "token") ?? env("FABRIC_CHANNEL_TOKEN") ?? env("FABRIC_TOKEN");
    if (!secret) {
      throw new NoTrackerError(`FABRIC_TRACKER is "${url}" (a task's socket), but FABRIC_CHANNEL_TOKEN is not set`);
    }
    return new FabricClient({ url, token: secret.trim(), caPem: "" });
  }
  const token = stringFlag(parsed, "token") ?? env("FABRIC_TOKEN") ?? local.token;
  if (!token) throw new NoTrackerError("No token given: use --token TOKEN or FABRIC_TOKEN");
  const caFile = stringFlag(parsed, "ca") ?? env("FABRIC_CA") ?? (local.url ? join(dir, "ca.pem") : undefined);
  if (!caFile) throw new NoTrackerError("No CA given: use --ca FILE or FABRIC_CA (the tracker's ca.pem)");
  let caPem: string;
  try {
    caPem = await Deno.readTextFile(caFile);
  } catch (error) {
    throw new UsageError(`Cannot read the CA file "${caFile}": ${(error as Error).message}`);
  }
  const urls = url.split(",").map((part) => part.trim()).filter((part) => part !== "").map(normalizeUrl);
  if (urls.length === 0) throw new UsageError(`No tracker URL in "${url}"`);
  return new FabricClient({ url: urls, token: token.trim(), caPem });
}

function env(name: string): string | undefined {
  const value = Deno.env.get(name);
  return value ? value : undefined;
}

async function readLocal(dir: string): Promise<{ url?: string; token?: string }> {
  const out: { url?: string; token?: string } = {};
  try {
    out.url = JSON.parse(await Deno.readTextFile(join(dir, "tracker.json"))).url;
    out.token = (await Deno.readTextFile(join(dir, "admin.token"))).trim();
  } catch { /* no local tracker, or not ours to read */ }
  return out;
}

export function normalizeUrl(url: string): string {
  const withScheme = /^[a-z]+:\/\//i.test(url) ? url : `https://${url}`;
  if (!withScheme.startsWith("https://")) {
    throw new UsageError(`The tracker URL must use https://, got "${url}"`);
  }
  return withScheme.replace(/\/+$/, "");
}
