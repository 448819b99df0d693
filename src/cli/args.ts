/** Flags: parsed strictly with node:util, so a typo is exit code 2 and a message, never a guess. */
import { parseArgs, type ParseArgsConfig } from "node:util";
import { parseDuration } from "../protocol/duration.ts";
import { parseSize } from "../protocol/size.ts";

/** The flags or arguments are wrong: exit code 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

type Options = NonNullable<ParseArgsConfig["options"]>;

export interface Parsed {
  values: Record<string, string | boolean | undefined>;
  positionals: string[];
}

export function parseFlags(command: string, args: string[], options: Options): Parsed {
  try {
    const { values, positionals } = parseArgs({
      args,
      options: { ...options, help: { type: "boolean", short: "h" } },
      allowPositionals: true,
      strict: true,
    });
    return { values: values as Parsed["values"], positionals };
  } catch (error) {
    const message = (error as Error).message.replace(/\. To specify a positional argument.*$/s, "");
    throw new UsageError(`fabric ${command}: ${message} (see fabric ${command} --help)`);
  }
}

export function stringFlag(parsed: Parsed, name: string): string | undefined {
  const value = parsed.values[name];
  return typeof value === "string" ? value : undefined;
}

export function intFlag(parsed: Parsed, name: string, min: number, max: number): number | undefined {
  const raw = stringFlag(parsed, name);
  if (raw === undefined) return undefined;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new UsageError(`--${name} must be a whole number from ${min} to ${max}, got "${raw}"`);
  }
  return value;
}

export function numberFlag(parsed: Parsed, name: string, min: number, max: number): number | undefined {
  const raw = stringFlag(parsed, name);
  if (raw === undefined) return undefined;
  const value = Number(raw);
  if (!Number.isFinite(value) || value < min || value > max) {
    throw new UsageError(`--${name} must be a number from ${min} to ${max}, got "${raw}"`);
  }
  return value;
}

export function sizeFlag(raw: string | undefined, flag: string): number | undefined {
  return convertedFlag(raw, flag, parseSize);
}

/** A duration flag, at most 7 days unless `maxMs` says otherwise. */
export function durationFlag(raw: string | undefined, flag: string, maxMs?: number): number | undefined {
  return convertedFlag(raw, flag, (text) => parseDuration(text, maxMs));
}

function convertedFlag(raw: string | undefined, flag: string, parse: (raw: string) => number): number | undefined {
  if (raw === undefined) return undefined;
  try {
    return parse(raw);
  } catch (error) {
    throw new UsageError(`${flag}: ${(error as Error).message}`);
  }
}

/** `k=v,k2=v2` */
export function keyValueFlag(parsed: Parsed, name: string): Record<string, string> {
  const raw = stringFlag(parsed, name);
  const out: Record<string, string> = {};
  if (!raw) return out;
  for (const part of raw.split(",")) {
    const eq = part.indexOf("=");
    if (eq <= 0) throw new UsageError(`--${name} takes key=value pairs separated by commas, got "${part}"`);
    out[part.slice(0, eq).trim()] = part.slice(eq + 1).trim();
  }
  return out;
}

export function listFlag(parsed: Parsed, name: string): string[] {
  const raw = stringFlag(parsed, name);
  return raw ? raw.split(",").map((s) => s.trim()).filter(Boolean) : [];
}

/** `HOST:PORT`, `[V6]:PORT` or `:PORT`. */
export function hostPortFlag(raw: string, flag: string): { hostname: string; port: number } {
  const match = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(raw);
  const port = match ? Number(match[3]) : NaN;
  if (!match || port > 65535) throw new UsageError(`${flag} takes HOST:PORT, got "${raw}"`);
  return { hostname: match[1] ?? (match[2] || "0.0.0.0"), port };
}

export function wantsHelp(parsed: Parsed, usage: string): boolean {
  if (parsed.values.help) {
    console.log(usage.trim());
    return true;
  }
  return false;
}

/** `--sync normal|full`: whether a write waits for the disk (survives a power loss) or not (a crash). */
/**
 * The PostgreSQL URL of the flag `name` (default --store), or FABRIC_STORE's; none for SQLite. A
 * password belongs in FABRIC_STORE or PGPASSWORD: on the command line, any user of the machine
 * could read it (ps).
 */
export function storeFlag(parsed: Parsed, flagName = "store"): string | undefined {
  const flag = stringFlag(parsed, flagName);
  const url = flag ?? Deno.env.get("FABRIC_STORE") ?? undefined;
  if (url === undefined || url === "") return undefined;
  const name = flag !== undefined ? `--${flagName}` : "FABRIC_STORE";
  if (!/^postgres(ql)?:\/\//i.test(url)) {
    throw new UsageError(`${name} takes a PostgreSQL URL (postgres://USER@HOST[:PORT]/DATABASE), got "${redact(url)}"`);
  }
  if (flag !== undefined && redact(url) !== url) {
    throw new UsageError(
      `${name} must not hold a password: every user of this machine can read a command line. ` +
        "Put the whole URL in FABRIC_STORE, or the password in PGPASSWORD",
    );
  }
  return url;
}

/** A URL as a message may show it: no password. */
function redact(url: string): string {
  return url.replace(/\/\/([^:@/]*):[^@/]*@/, "//$1:***@");
}

export function syncFlag(parsed: Parsed): "normal" | "full" | undefined {
  const raw = stringFlag(parsed, "sync");
  if (raw === undefined || raw === "normal" || raw === "full") return raw;
  throw new UsageError(`--sync takes "normal" or "full", got "${raw}"`);
}
