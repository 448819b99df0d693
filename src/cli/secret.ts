/** `fabric secret set NAME [--allow WHO]`, `fabric secret list [--json]`, `fabric secret delete NAME` */
import { MAX_SECRET_BYTES, MIN_SECRET_CHARS } from "../protocol/limits.ts";
import { SECRET_NAME, SECRET_NAME_RULE } from "../protocol/secret.ts";
import { textProblem } from "../protocol/text.ts";
import { type Parsed, parseFlags, UsageError, wantsHelp } from "./args.ts";
import { connect, CONNECTION_FLAGS, CONNECTION_HELP } from "./connect.ts";
import { readStdin, reasonOf } from "./job_input.ts";
import { age, escapeControls, printJson, table } from "./output.ts";

const USAGE = `
fabric secret set NAME [--allow ROLE|TOKEN]...   the value from standard input
fabric secret list [--json]
fabric secret delete NAME

Secrets are values the tracker keeps encrypted and gives to the tasks of jobs that name them
("secrets: [NAME]" in a job file), as environment variables; they are masked as *** in task output.
Setting, listing and deleting them needs an admin token.

  set NAME      read the value from standard input, never from the command line: typed at a
                terminal it is not shown (end it with Enter); piped in, one final newline is removed
                (printf '%s' "$VALUE" | fabric secret set NAME keeps the value exactly). Setting an
                existing secret replaces its value, and keeps who may use it unless --allow is given.
  --allow WHO   who may use it in jobs: a role (read, submit, operator, admin: that role and the
                ones above it) or a token's name (token:NAME where the name is a role's); repeat it
                or separate with commas. Default: operator. Admin tokens always may.
  list          names, who may use them, when they were created and last set (never values)
  delete NAME   new jobs that name it are refused; tasks not started yet fail
${CONNECTION_HELP}
`;

export async function secretCommand(args: string[]): Promise<number> {
  const parsed = parseFlags("secret", args, {
    ...CONNECTION_FLAGS,
    json: { type: "boolean" },
    allow: { type: "string", multiple: true },
  });
  if (wantsHelp(parsed, USAGE)) return 0;
  const [sub, ...rest] = parsed.positionals;
  if (sub === "set") return await setSecret(parsed, rest);
  if (sub === "list") return await listSecrets(parsed, rest);
  if (sub === "delete") return await deleteSecret(parsed, rest);
  if (sub === undefined) throw new UsageError("fabric secret takes a subcommand: set, list or delete (see --help)");
  throw new UsageError(`Unknown secret subcommand "${sub}" (see fabric secret --help)`);
}

function secretName(sub: string, args: string[]): string {
  if (args.length !== 1) {
    throw new UsageError(
      args.length === 0
        ? `fabric secret ${sub} needs the secret's NAME`
        : `fabric secret ${sub} takes one NAME${sub === "set" ? " (the value comes from standard input)" : ""}`,
    );
  }
  if (!SECRET_NAME.test(args[0])) throw new UsageError(`The secret's name ${SECRET_NAME_RULE}, got "${args[0]}"`);
  return args[0];
}

async function setSecret(parsed: Parsed, args: string[]): Promise<number> {
  const name = secretName("set", args);
  const allowValues = parsed.values.allow as unknown as string[] | undefined;
  const allow = allowValues?.flatMap((value) => value.split(",")).map((s) => s.trim()).filter(Boolean);
  if (allowValues !== undefined && allow!.length === 0) throw new UsageError("--allow needs a role or a token's name");
  // Read before connecting: a mistake in the value is told without a round trip.
  const value = checkValue(Deno.stdin.isTerminal() ? await readHidden(name) : await readPiped());
  const client = await connect(parsed);
  try {
    const secret = await client.setSecret(name, value, allow);
    const who = secret.allow.map((entry) => entry.replace(/^role:/, "")).join(", ");
    console.log(escapeControls(`secret ${secret.name} ${secret.created ? "created" : "updated"} (allowed: ${who})`));
    return 0;
  } finally {
    client.close();
  }
}

async function listSecrets(parsed: Parsed, args: string[]): Promise<number> {
  if (args.length > 0) throw new UsageError("fabric secret list takes no argument");
  const client = await connect(parsed);
  try {
    const secrets = await client.listSecrets();
    if (parsed.values.json) return printJson(secrets), 0;
    if (secrets.length === 0) return console.log("No secrets yet. Set one with: fabric secret set NAME"), 0;
    console.log(table(
      ["NAME", "ALLOWED", "CREATED", "UPDATED", "STATE"],
      secrets.map((s) => [
        s.name,
        s.allow.map((entry) => entry.replace(/^role:/, "")).join(","),
        `${age(s.createdAt)} ago`,
        `${age(s.updatedAt)} ago`,
        s.usable ? "ok" : `unusable: ${s.problem ?? ""}`,
      ]),
    ));
    return 0;
  } finally {
    client.close();
  }
}

async function deleteSecret(parsed: Parsed, args: string[]): Promise<number> {
  const name = secretName("delete", args);
  const client = await connect(parsed);
  try {
    await client.deleteSecret(name);
    console.log(escapeControls(`secret ${name} deleted`));
    return 0;
  } finally {
    client.close();
  }
}

/** The value as the tracker takes it, or a usage error that never quotes it. */
function checkValue(value: string): string {
  const problem = textProblem(value);
  if (problem !== null) throw new UsageError(`The secret's value ${problem}`);
  if (value.length < MIN_SECRET_CHARS) {
    throw new UsageError(
      `The secret's value must be at least ${MIN_SECRET_CHARS} characters (a shorter one cannot be masked in output)`,
    );
  }
  if (new TextEncoder().encode(value).length > MAX_SECRET_BYTES) {
    throw new UsageError(`The secret's value may be at most ${MAX_SECRET_BYTES} bytes`);
  }
  return value;
}

/** Standard input to its end (within the limit), as UTF-8, less one final newline. */
async function readPiped(): Promise<string> {
  let bytes: Uint8Array;
  try {
    // Room for the newline that is removed.
    bytes = await readStdin(MAX_SECRET_BYTES + 2);
  } catch (error) {
    if (error instanceof RangeError) {
      throw new UsageError(`The secret's value may be at most ${MAX_SECRET_BYTES} bytes`);
    }
    throw new UsageError(`Cannot read the secret's value from standard input: ${reasonOf(error)}`);
  }
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    throw new UsageError("The secret's value is not UTF-8 text (an environment variable holds text)");
  }
  return text.endsWith("\r\n") ? text.slice(0, -2) : text.endsWith("\n") ? text.slice(0, -1) : text;
}

/** Typed at the terminal with its echo off: nothing of the value is shown, nor kept in scrollback. */
async function readHidden(name: string): Promise<string> {
  const encoder = new TextEncoder();
  try {
    // cbreak: echo and line editing off, but Ctrl-C still interrupts. Before the prompt: what is typed
    // (or pasted) as soon as the prompt shows must not be echoed.
    Deno.stdin.setRaw(true, { cbreak: true });
  } catch (error) {
    throw new UsageError(
      `Cannot turn off the terminal's echo (${(error as Error).message}), so the value would show; pipe it in instead`,
    );
  }
  const bytes: number[] = [];
  try {
    await Deno.stderr.write(encoder.encode(`Value of secret ${name} (not shown; Enter ends it): `));
    const buffer = new Uint8Array(1024);
    reading: for (;;) {
      const n = await Deno.stdin.read(buffer);
      if (n === null) break;
      for (const byte of buffer.subarray(0, n)) {
        if (byte === 0x0d || byte === 0x0a) break reading;
        if (byte === 0x04 && bytes.length === 0) break reading; // Ctrl-D on an empty line
        if (byte === 0x7f || byte === 0x08) bytes.pop(); // backspace (of a byte: enough for what is typed)
        else if (byte === 0x15) bytes.length = 0; // Ctrl-U: start again
        else bytes.push(byte);
        if (bytes.length > MAX_SECRET_BYTES) break reading;
      }
    }
  } finally {
    Deno.stdin.setRaw(false);
    await Deno.stderr.write(encoder.encode("\n"));
  }
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(new Uint8Array(bytes));
  } catch {
    throw new UsageError("The secret's value is not UTF-8 text");
  }
}
