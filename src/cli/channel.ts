/**
 * `fabric channel set|get|del|list|watch ...` and `fabric channels`: small shared keys that jobs and
 * people coordinate through (docs/channels.md). Inside a task whose job grants the channel, the same
 * commands reach it through the agent (FABRIC_TRACKER=unix:...).
 */
import type { FabricClient } from "../client/mod.ts";
import { CHANNEL_LIMITS, CHANNEL_NAME, CHANNEL_NAME_RULE, type ChannelChange } from "../protocol/channel.ts";
import { FabricError } from "../protocol/errors.ts";
import { textProblem, utf8Length } from "../protocol/text.ts";
import { durationFlag, intFlag, type Parsed, parseFlags, UsageError, wantsHelp } from "./args.ts";
import { connect, CONNECTION_FLAGS, CONNECTION_HELP } from "./connect.ts";
import { EXIT } from "./exit_codes.ts";
import { escapeControls, isTty, printJson, table, writeText } from "./output.ts";

const USAGE = `
fabric channel set NAME KEY VALUE [--if-revision N] [--ttl D] [--task-bound|--no-task-bound]
fabric channel get NAME KEY
fabric channel del NAME KEY [--if-revision N]
fabric channel list NAME
fabric channel watch NAME [--from-revision N] [--count N]
fabric channels

Channels are small key/value spaces in the tracker's store, shared by everyone with a token and by
the tasks of jobs that grant them ("permissions: {channels: [NAME]}"). Every change of any channel
gets the next revision, a number that only grows. See docs/channels.md.

  set             set KEY to VALUE (created or replaced); prints the key's new revision
  --if-revision N only if the key's revision is N now (0: only if it does not exist); else exit 1,
                  naming its revision now (compare-and-set)
  --ttl D         the key expires D after this set (1s to 7d), an "expire" change
  --task-bound    inside a task: the key goes when this attempt of the task ends (the default for a
                  set from a task; --no-task-bound keeps it)
  get             the value, as it was set (--json: with its revisions, expiry and task)
  del             delete KEY (nothing to delete is not an error)
  list            the channel's keys, with their revisions, and the revision they are as of
  watch           one line per change after --from-revision N (default: from now), in order, for
                  ever (--count N: exit after N changes): "REVISION KIND KEY VALUE", KIND set, del or
                  expire; --json: one JSON object per line. It resumes after a disconnect from the
                  last revision seen. History older than the tracker keeps (--channel-history) is
                  refused, exit 1: list the channel again and watch from its revision
  channels        the channels that hold keys, with how many each holds
  --json          print the answers as JSON

Limits: a key ${CHANNEL_LIMITS.keyBytes} bytes, a value ${
  CHANNEL_LIMITS.valueBytes / 1024
} KiB (UTF-8 text), ${CHANNEL_LIMITS.keysPerChannel} keys per channel,
${CHANNEL_LIMITS.channels} channels. Reading and watching needs a read token; setting and deleting a submit token.
${CONNECTION_HELP}
`;

const CHANNELS_USAGE = `
fabric channels [--json]

The channels that hold keys, with how many each holds, and the latest revision of any channel
(a read token). fabric channel --help tells how to use them; docs/channels.md what they promise.
  --json          print the answer as JSON
${CONNECTION_HELP}
`;

const FLAGS = {
  ...CONNECTION_FLAGS,
  json: { type: "boolean" },
  "if-revision": { type: "string" },
  ttl: { type: "string" },
  "task-bound": { type: "boolean" },
  "no-task-bound": { type: "boolean" },
  "from-revision": { type: "string" },
  count: { type: "string" },
} as const;

/** How long one watch call waits for a change before it asks again. */
const WATCH_WAIT_MS = 25_000;
/** A watch that cannot reach the tracker tries again for this long before it gives up (exit 3). */
const WATCH_RECONNECT_MS = 60_000;

export async function channelCommand(args: string[]): Promise<number> {
  const parsed = parseFlags("channel", args, FLAGS);
  if (wantsHelp(parsed, USAGE)) return 0;
  const [sub, ...rest] = parsed.positionals;
  const take = (count: number, names: string) => {
    if (rest.length !== count) throw new UsageError(`fabric channel ${sub} takes ${names} (see --help)`);
    channelName(rest[0]);
    if (count > 1) keyName(rest[1]);
    return rest;
  };
  switch (sub) {
    case "set":
      return await withClient(parsed, (client) => set(client, parsed, take(3, "NAME KEY VALUE")));
    case "get":
      return await withClient(parsed, (client) => get(client, parsed, take(2, "NAME KEY")));
    case "del":
      return await withClient(parsed, (client) => del(client, parsed, take(2, "NAME KEY")));
    case "list":
      return await withClient(parsed, (client) => list(client, parsed, take(1, "NAME")[0]));
    case "watch":
      return await withClient(parsed, (client) => watch(client, parsed, take(1, "NAME")[0]));
    case undefined:
      throw new UsageError("fabric channel takes a subcommand: set, get, del, list or watch (see --help)");
    default:
      throw new UsageError(`Unknown channel subcommand "${sub}" (see fabric channel --help)`);
  }
}

/** `fabric channels` */
export async function channelsCommand(args: string[]): Promise<number> {
  const parsed = parseFlags("channels", args, { ...CONNECTION_FLAGS, json: { type: "boolean" } });
  if (wantsHelp(parsed, CHANNELS_USAGE)) return 0;
  if (parsed.positionals.length > 0) throw new UsageError("fabric channels takes no argument");
  return await withClient(parsed, async (client) => {
    const answer = await client.listChannels();
    if (parsed.values.json) return printJson(answer), EXIT.ok;
    if (answer.channels.length === 0) return console.log("No channel holds keys."), EXIT.ok;
    console.log(table(["NAME", "KEYS"], answer.channels.map((c) => [c.name, String(c.keys)])));
    return EXIT.ok;
  });
}

async function withClient(parsed: Parsed, body: (client: FabricClient) => Promise<number>): Promise<number> {
  const client = await connect(parsed);
  try {
    return await body(client);
  } finally {
    client.close();
  }
}

async function set(client: FabricClient, parsed: Parsed, [name, key, value]: string[]): Promise<number> {
  const problem = textProblem(value) ??
    (utf8Length(value) > CHANNEL_LIMITS.valueBytes
      ? `may be at most ${CHANNEL_LIMITS.valueBytes} bytes long (UTF-8), got ${utf8Length(value)} (limit "valueBytes")`
      : null);
  if (problem) throw new UsageError(`The value ${problem}`);
  const ttlMs = durationFlag(parsed.values.ttl as string | undefined, "--ttl");
  if (ttlMs !== undefined && (ttlMs < CHANNEL_LIMITS.minTtlMs || ttlMs > CHANNEL_LIMITS.maxTtlMs)) {
    throw new UsageError(`--ttl must be from 1s to 7d, got "${parsed.values.ttl}"`);
  }
  const taskBound = parsed.values["task-bound"] === true
    ? true
    : parsed.values["no-task-bound"] === true
    ? false
    : undefined;
  const ifRevision = intFlag(parsed, "if-revision", 0, Number.MAX_SAFE_INTEGER);
  const answer = await client.setChannelKey(name, key, { value, ifRevision, ttlMs, taskBound });
  if (parsed.values.json) return printJson(answer), EXIT.ok;
  const bound = answer.key.task ? `, bound to task ${answer.key.task}` : "";
  const expires = answer.key.expiresAt ? `, expires ${new Date(answer.key.expiresAt).toISOString()}` : "";
  console.log(escapeControls(
    `${name} ${key}: ${answer.created ? "created" : "set"} at revision ${answer.key.revision}${expires}${bound}`,
  ));
  return EXIT.ok;
}

async function get(client: FabricClient, parsed: Parsed, [name, key]: string[]): Promise<number> {
  const answer = await client.getChannelKey(name, key);
  if (parsed.values.json) return printJson(answer), EXIT.ok;
  // Piped, the value exactly as it was set; on a terminal, with its control characters shown, not obeyed.
  await writeText(isTty() ? escapeControls(answer.value, { keepNewlines: true }) : answer.value);
  return EXIT.ok;
}

async function del(client: FabricClient, parsed: Parsed, [name, key]: string[]): Promise<number> {
  const ifRevision = intFlag(parsed, "if-revision", 0, Number.MAX_SAFE_INTEGER);
  const answer = await client.deleteChannelKey(name, key, { ifRevision });
  if (parsed.values.json) return printJson(answer), EXIT.ok;
  console.log(escapeControls(
    answer.revision === null ? `${name} ${key}: no such key` : `${name} ${key}: deleted at revision ${answer.revision}`,
  ));
  return EXIT.ok;
}

async function list(client: FabricClient, parsed: Parsed, name: string): Promise<number> {
  const answer = await client.listChannelKeys(name);
  if (parsed.values.json) return printJson(answer), EXIT.ok;
  if (answer.keys.length === 0) {
    console.log(escapeControls(`Channel ${name} holds no keys (revision ${answer.revision}).`));
    return EXIT.ok;
  }
  console.log(table(
    ["KEY", "REVISION", "EXPIRES", "TASK", "VALUE"],
    answer.keys.map((k) => [
      k.key,
      String(k.revision),
      k.expiresAt ? new Date(k.expiresAt).toISOString() : "-",
      k.task ?? "-",
      k.value.length > 60 ? `${k.value.slice(0, 57)}...` : k.value,
    ]),
  ));
  console.log(`(as of revision ${answer.revision})`);
  return EXIT.ok;
}

/** Every change after the start, in order, resuming after a failed call from the last one printed. */
async function watch(client: FabricClient, parsed: Parsed, name: string): Promise<number> {
  const json = parsed.values.json === true;
  const count = intFlag(parsed, "count", 1, Number.MAX_SAFE_INTEGER);
  let after = intFlag(parsed, "from-revision", 0, Number.MAX_SAFE_INTEGER) ??
    (await client.listChannelKeys(name)).revision;
  const stop = new AbortController();
  const onSignal = () => stop.abort();
  Deno.addSignalListener("SIGINT", onSignal);
  let printed = 0;
  let failingSince: number | null = null;
  try {
    while (!stop.signal.aborted) {
      let answer;
      try {
        answer = await client.watchChannel(name, after, { waitMs: WATCH_WAIT_MS, signal: stop.signal });
        failingSince = null;
      } catch (error) {
        if (stop.signal.aborted) break;
        if (error instanceof FabricError && error.code !== "unavailable") throw error;
        failingSince ??= Date.now();
        if (Date.now() - failingSince > WATCH_RECONNECT_MS) throw error;
        // The tracker restarting or another taking over: again in a second, from the last revision seen.
        await new Promise((resolve) => setTimeout(resolve, 1000));
        continue;
      }
      for (const change of answer.changes) {
        if (change.revision <= after) continue;
        await writeText(json ? JSON.stringify(change) : changeLine(change));
        after = change.revision;
        if (count !== undefined && ++printed >= count) return EXIT.ok;
      }
      after = Math.max(after, answer.revision);
    }
    return EXIT.ok;
  } finally {
    Deno.removeSignalListener("SIGINT", onSignal);
  }
}

function changeLine(change: ChannelChange): string {
  const value = change.value === null ? "" : ` ${change.value}`;
  return escapeControls(`${change.revision} ${change.kind} ${change.key}${value}`);
}

function channelName(name: string): void {
  if (!CHANNEL_NAME.test(name)) throw new UsageError(`The channel's name ${CHANNEL_NAME_RULE}, got "${name}"`);
}

function keyName(key: string): void {
  const problem = textProblem(key) ??
    (key === ""
      ? "must not be empty"
      : utf8Length(key) > CHANNEL_LIMITS.keyBytes
      ? `may be at most ${CHANNEL_LIMITS.keyBytes} bytes long (UTF-8), got ${utf8Length(key)} (limit "keyBytes")`
      : null);
  if (problem) throw new UsageError(`The key ${problem}`);
}
