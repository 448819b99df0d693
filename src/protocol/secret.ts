/**
 * Secrets (`fabric secret set NAME`): values the tracker keeps encrypted and gives, as environment
 * variables, to the tasks of jobs that name them (`secrets:` in a job file) and that may use them.
 * What crosses the wire here is names, who may use them and when they changed; a value travels only
 * in `PUT /v1/secrets/NAME` and in the assignment of a task that uses it.
 */
import { z } from "zod";
import { MAX_SECRET_BYTES, MAX_TASK_SECRETS, MIN_SECRET_CHARS } from "./limits.ts";
import { textSchema } from "./text.ts";
import { ROLES, TOKEN_NAME } from "./token.ts";

/** Like an environment variable's name: a secret is usually given to a task under its own name. */
export const SECRET_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;
export const SECRET_NAME_RULE = "must be letters, digits and '_', not starting with a digit (at most 128)";

export const secretNameSchema = z.string().regex(SECRET_NAME, SECRET_NAME_RULE);

/** Who may use a secret when `--allow` is not given: operators and admins. */
export const DEFAULT_SECRET_ALLOW: readonly string[] = ["role:operator"];
export const MAX_SECRET_ALLOW = 64;

/**
 * One entry of a secret's rule, as given (`operator`, `role:submit`, `ci`, `token:ci`) to its stored
 * form (`role:operator`, `token:ci`): a bare word that is a role's name means the role, any other a
 * token's name (`token:admin` names a token that is called like a role).
 */
export const allowEntrySchema = z.string().transform((raw, ctx) => {
  const entry = raw.trim();
  const colon = entry.indexOf(":");
  const kind = colon < 0 ? ((ROLES as readonly string[]).includes(entry) ? "role" : "token") : entry.slice(0, colon);
  const name = colon < 0 ? entry : entry.slice(colon + 1);
  if (kind === "role" && (ROLES as readonly string[]).includes(name)) return `role:${name}`;
  if (kind === "token" && TOKEN_NAME.test(name)) return `token:${name}`;
  ctx.addIssue({
    code: "custom",
    message: `must be a role (${ROLES.join(", ")}) or a token's name (letters, digits, '_', '.', '-'), ` +
      `optionally as role:NAME or token:NAME; got ${JSON.stringify(entry.slice(0, 70))}`,
  });
  return z.NEVER;
});

/**
 * A secret's value: text an environment variable can hold (no NUL), at least a few characters (a
 * shorter one could not be masked in output without masking ordinary text), within the limit.
 */
export const secretValueSchema = textSchema(MAX_SECRET_BYTES).min(
  MIN_SECRET_CHARS,
  `must be at least ${MIN_SECRET_CHARS} characters: a shorter value cannot be told from ordinary output to mask it`,
);

export const setSecretRequestSchema = z.strictObject({
  value: secretValueSchema,
  /** Who may use it; absent: the secret's rule stays as it is (a new secret gets the default). */
  allow: z.array(allowEntrySchema).min(1).max(MAX_SECRET_ALLOW).optional(),
});
export type SetSecretRequest = z.input<typeof setSecretRequestSchema>;

/** A secret as clients see it: never its value. */
export interface SecretView {
  name: string;
  /** Who may use it: `role:R` (R and the roles above it) and `token:NAME`; admins always may. */
  allow: string[];
  /** ISO 8601, as every time the API shows. */
  createdAt: string;
  updatedAt: string;
  /** False when it was sealed with another key than the tracker's secrets.key (see `problem`). */
  usable: boolean;
  problem?: string;
}

export interface SetSecretResponse extends SecretView {
  /** True when the name was new. */
  created: boolean;
}

/**
 * The `secrets:` of a job or a task: a list of names (each becomes the variable of that name) or a
 * mapping from variable to secret name. Either way, what is kept is the mapping.
 */
export const jobSecretsSchema = z.union([
  z.array(secretNameSchema).max(MAX_TASK_SECRETS).transform((names) =>
    Object.fromEntries(names.map((name) => [name, name]))
  ),
  z.record(z.string().regex(SECRET_NAME, `(a variable's name) ${SECRET_NAME_RULE}`), secretNameSchema),
]).superRefine((mapping, ctx) => {
  const variables = Object.keys(mapping);
  if (variables.length > MAX_TASK_SECRETS) {
    ctx.addIssue({ code: "custom", message: `may name at most ${MAX_TASK_SECRETS} secrets, got ${variables.length}` });
  }
  const reserved = variables.find((name) => name.startsWith("FABRIC_"));
  if (reserved !== undefined) {
    ctx.addIssue({ code: "custom", message: `gives the variable "${reserved}": FABRIC_ variables are fabric's own` });
  }
});

/** A job's or a task's secrets as kept: variable name -> secret name. */
export type JobSecrets = z.output<typeof jobSecretsSchema>;
