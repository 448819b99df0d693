/**
 * What an agent was started with, kept in its data directory (`settings.json`) so that a restart
 * "with no flags", as the README says, is the same agent: its labels, slots, capacity, permissions
 * and keys. A flag given again wins (and is kept); `--reset-settings` forgets what was kept.
 * Kept: the flags below, as they were given (the same checks read them again at each start).
 */
import { join, resolve } from "node:path";
import { z } from "zod";
import { writeSecret } from "../tls/mod.ts";
import { type Parsed, UsageError } from "./args.ts";

const STRING_FLAGS = [
  "labels",
  "slots",
  "weight",
  "cpu",
  "memory",
  "disk",
  "task-user",
  "stop-grace",
  "journal-limit",
  "sync",
  "addons",
] as const;
const BOOLEAN_FLAGS = ["allow-unsandboxed", "allow-local-git"] as const;
/** Files re-read at each start: a key file that is gone stops the agent rather than letting it run unsigned jobs. */
const LIST_FLAGS = ["verify-key"] as const;

const settingsSchema = z.strictObject({
  ...Object.fromEntries(STRING_FLAGS.map((flag) => [flag, z.string().max(4096).optional()])),
  ...Object.fromEntries(BOOLEAN_FLAGS.map((flag) => [flag, z.boolean().optional()])),
  ...Object.fromEntries(LIST_FLAGS.map((flag) => [flag, z.array(z.string().max(4096)).max(64).optional()])),
});
type Settings = Record<string, string | boolean | string[] | undefined>;

export function settingsPath(dataDir: string): string {
  return join(dataDir, "settings.json");
}

/**
 * The flags of this start over those kept from the last (none kept with `reset`). Returns the merged
 * flags and, for the log, the kept ones that were used.
 */
export async function withKeptSettings(
  dataDir: string,
  parsed: Parsed,
  reset: boolean,
): Promise<{ parsed: Parsed; used: string[] }> {
  if (reset) return { parsed, used: [] };
  const kept = await readSettings(dataDir);
  const values: Parsed["values"] & Settings = { ...parsed.values };
  const used: string[] = [];
  for (const [flag, value] of Object.entries(kept)) {
    if (value === undefined || values[flag] !== undefined) continue;
    values[flag] = value as string | boolean;
    used.push(describe(flag, value));
  }
  return { parsed: { values, positionals: parsed.positionals }, used };
}

/** Keep this start's flags (those of the list) for the next. */
export async function keepSettings(dataDir: string, parsed: Parsed): Promise<void> {
  const settings: Settings = {};
  for (const flag of [...STRING_FLAGS, ...BOOLEAN_FLAGS, ...LIST_FLAGS]) {
    const value = (parsed.values as Settings)[flag];
    // A file is kept by its full path: the next start may run from another directory.
    if (Array.isArray(value)) settings[flag] = value.map((file) => resolve(file));
    else if (flag === "addons" && typeof value === "string") settings[flag] = resolve(value);
    else if (value !== undefined && value !== false) settings[flag] = value;
  }
  await writeSecret(settingsPath(dataDir), JSON.stringify(settings, null, 2) + "\n");
}

async function readSettings(dataDir: string): Promise<Settings> {
  const path = settingsPath(dataDir);
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return {};
    throw new UsageError(`Cannot read the agent's kept settings "${path}": ${(error as Error).message}`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    throw new UsageError(
      `The agent's kept settings "${path}" are not JSON (${(error as Error).message}); ` +
        "start it with --reset-settings and the flags it needs",
    );
  }
  const parsed = settingsSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue.path.length > 0 ? `"${issue.path.join(".")}"` : "the file";
    throw new UsageError(
      `The agent's kept settings "${path}": ${where} ${issue.message}; start it with --reset-settings and the flags it needs`,
    );
  }
  return parsed.data as Settings;
}

function describe(flag: string, value: string | boolean | string[]): string {
  if (value === true) return `--${flag}`;
  if (Array.isArray(value)) return value.map((v) => `--${flag} ${v}`).join(" ");
  return `--${flag} ${value}`;
}
