/** `fabric token create|list|revoke|rotate-join`: client tokens with roles, and the join token. */
import { MAX_TOKEN_LIFETIME_MS, type Role, ROLES, TOKEN_NAME } from "../protocol/token.ts";
import { durationFlag, type Parsed, parseFlags, stringFlag, UsageError, wantsHelp } from "./args.ts";
import { connect, CONNECTION_FLAGS, CONNECTION_HELP } from "./connect.ts";
import { age, escapeControls, printJson, table } from "./output.ts";

const USAGE = `
fabric token create --role ROLE --name NAME [--expires DURATION]
fabric token list [--json]
fabric token revoke NAME
fabric token rotate-join

Client tokens, each with a name and a role (list needs the read role, the others the admin role):

  read       every read: status, logs, agents, token list
  submit     read, submit jobs, and cancel the jobs this token submitted
  operator   submit, cancel any job, drain, resume and weigh agents
  admin      everything: tokens, removing and approving agents, the join token

  create        prints the new token alone on stdout (T=$(fabric token create ...)); it is shown once
                and only its SHA-256 is kept. --expires 30d: refused after that (at most 3650d)
  list          name, role, state (active, expired, revoked), created, expires, last used (written
                at most once a minute); never a token itself
  revoke NAME   refused at once from now on. The last admin token that works cannot be revoked
  rotate-join   a new join token, printed alone on stdout and written to the tracker's join.token;
                the old one is refused from now on (agents that joined keep their own credentials)

A job records the name of the token that submitted it (fabric status JOB). The tracker's first admin
token is named "admin" (DIR/admin.token); fabric tracker reset-admin-token replaces it.
${CONNECTION_HELP}
`;

const FLAGS = {
  role: { type: "string" },
  name: { type: "string" },
  expires: { type: "string" },
  json: { type: "boolean" },
} as const;

/** Which of FLAGS each subcommand takes. */
const OWN_FLAGS: Record<string, string[]> = {
  create: ["role", "name", "expires"],
  list: ["json"],
  revoke: [],
  "rotate-join": [],
};

export async function tokenCommand(args: string[]): Promise<number> {
  const parsed = parseFlags("token", args, { ...CONNECTION_FLAGS, ...FLAGS });
  if (wantsHelp(parsed, USAGE)) return 0;
  const [sub, ...rest] = parsed.positionals;
  const own = OWN_FLAGS[sub ?? ""];
  const stray = Object.keys(FLAGS).find((flag) => parsed.values[flag] !== undefined && !own?.includes(flag));
  if (own && stray) throw new UsageError(`fabric token ${sub} takes no --${stray} (see fabric token --help)`);
  switch (sub) {
    case "create":
      return await create(parsed, rest);
    case "list":
      return await list(parsed, rest);
    case "revoke":
      return await revoke(parsed, rest);
    case "rotate-join":
      return await rotateJoin(parsed, rest);
    case undefined:
      throw new UsageError("fabric token takes create, list, revoke or rotate-join (see fabric token --help)");
    default:
      throw new UsageError(`Unknown token subcommand "${sub}" (see fabric token --help)`);
  }
}

async function create(parsed: Parsed, args: string[]): Promise<number> {
  if (args.length > 0) throw new UsageError(`fabric token create takes no arguments, got "${args[0]}"`);
  const role = stringFlag(parsed, "role");
  if (role === undefined || !(ROLES as readonly string[]).includes(role)) {
    throw new UsageError(`--role takes one of ${ROLES.join(", ")}, got ${role === undefined ? "none" : `"${role}"`}`);
  }
  const name = stringFlag(parsed, "name");
  if (name === undefined || !TOKEN_NAME.test(name)) {
    throw new UsageError(
      `--name takes 1 to 64 letters, digits, '_', '.' or '-', starting with a letter or digit, got ${
        name === undefined ? "none" : `"${name}"`
      }`,
    );
  }
  const expiresInMs = durationFlag(stringFlag(parsed, "expires"), "--expires", MAX_TOKEN_LIFETIME_MS);
  if (expiresInMs !== undefined && expiresInMs < 1000) throw new UsageError("--expires must be at least 1s");
  const client = await connect(parsed);
  try {
    const created = await client.createToken({ name, role: role as Role, expiresInMs });
    console.log(created.token);
    const until = created.expiresAt ? `, until ${created.expiresAt}` : "";
    console.error(escapeControls(`token ${created.name} created with the ${created.role} role${until}`));
    return 0;
  } finally {
    client.close();
  }
}

async function list(parsed: Parsed, args: string[]): Promise<number> {
  if (args.length > 0) throw new UsageError(`fabric token list takes no arguments, got "${args[0]}"`);
  const client = await connect(parsed);
  try {
    const tokens = await client.listTokens();
    if (parsed.values.json) return printJson(tokens), 0;
    console.log(table(
      ["NAME", "ROLE", "STATE", "CREATED", "EXPIRES", "LAST USED"],
      tokens.map((t) => [
        t.name,
        t.role,
        t.state,
        `${age(t.createdAt)} ago`,
        t.expiresAt ?? "never",
        t.lastUsedAt ? `${age(t.lastUsedAt)} ago` : "never",
      ]),
    ));
    return 0;
  } finally {
    client.close();
  }
}

async function revoke(parsed: Parsed, args: string[]): Promise<number> {
  if (args.length !== 1) throw new UsageError("fabric token revoke takes one token name");
  const client = await connect(parsed);
  try {
    const result = await client.revokeToken(args[0]);
    console.log(escapeControls(`token ${result.name} revoked`));
    return 0;
  } finally {
    client.close();
  }
}

async function rotateJoin(parsed: Parsed, args: string[]): Promise<number> {
  if (args.length > 0) throw new UsageError(`fabric token rotate-join takes no arguments, got "${args[0]}"`);
  const client = await connect(parsed);
  try {
    console.log(await client.rotateJoinToken());
    console.error("the join token was rotated: the old one is refused from now on");
    return 0;
  } finally {
    client.close();
  }
}
