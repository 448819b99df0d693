/**
 * What the API's routes read from a request: the admitted caller, a JSON body checked by its schema,
 * path and query parameters with their bounds. A mistake is a 400 naming the parameter.
 */
import type { Context } from "hono";
import type { z } from "zod";
import {
  AUDIT_FIELD_CHARS,
  ERROR_STATUS,
  type ErrorCode,
  FabricError,
  MAX_AUDIT_PAGE,
  parseJsonBody,
  secretNameSchema,
  TASK_STATES,
  type TaskState,
} from "../../protocol/mod.ts";
import type { Principal } from "../credentials.ts";
import type { RouteRule } from "./authorization.ts";

/** What a route tells the audit trail beyond its path's parameter (audit.ts). */
export interface AuditNote {
  target?: string | null;
  detail?: string | null;
}

/** The HTTPS layer's door has admitted the caller already (app.request() in tests has not). */
export type Env = {
  Bindings: { principal?: Principal | null };
  Variables: {
    principal: Principal;
    audit: AuditNote | undefined;
    /**
     * Record the change as done now rather than once answered (routes.ts), so that its entry is written
     * with the change itself: a submission's, in the commit that stores the job's placement.
     */
    auditOk: (() => void) | undefined;
  };
};
export type Handler = (c: Context<Env>) => Response | Promise<Response>;
/** Registers a route by its rule (routes.ts). */
export type On = (rule: RouteRule, handler: Handler) => unknown;

/** The agent a request comes from (the door admitted only agents to agent routes). */
export function agentOf(c: Context<Env>): string {
  const principal = c.get("principal");
  if (principal.kind !== "agent") {
    throw new FabricError("forbidden", "This route is for agents, with their own credential");
  }
  return principal.agentId;
}

export async function parseBody<S extends z.ZodType>(c: Context<Env>, schema: S): Promise<z.output<S>> {
  return validate(schema, await readJson(c));
}

export async function readJson(c: Context<Env>): Promise<unknown> {
  let body: ArrayBuffer;
  try {
    body = await c.req.arrayBuffer();
  } catch {
    throw new FabricError("bad_request", "The request body could not be read");
  }
  return parseJsonBody(new Uint8Array(body));
}

export function validate<S extends z.ZodType>(schema: S, body: unknown): z.output<S> {
  const parsed = schema.safeParse(body);
  if (!parsed.success) {
    const first = parsed.error.issues[0];
    const where = first.path.length > 0 ? `"${first.path.join(".")}"` : "the body";
    throw new FabricError("bad_request", `Invalid request: ${where}: ${first.message}`, {
      issues: parsed.error.issues,
    });
  }
  return parsed.data;
}

/** A chunk's number in the path. */
export function chunkParam(c: Context<Env>): number {
  const raw = c.req.param("seq") ?? "";
  if (!/^\d{1,9}$/.test(raw)) {
    throw new FabricError("bad_request", `A chunk's number must be a whole number, got "${raw.slice(0, 20)}"`);
  }
  return Number(raw);
}

export function secretName(c: Context<Env>): string {
  const name = c.req.param("name") ?? "";
  const parsed = secretNameSchema.safeParse(name);
  if (!parsed.success) {
    throw new FabricError(
      "bad_request",
      `A secret's name ${parsed.error.issues[0].message}, got "${name.slice(0, 130)}"`,
    );
  }
  return parsed.data;
}

export function intParam(c: Context<Env>, name: string, fallback: number, min: number, max: number): number {
  const raw = c.req.query(name);
  if (raw === undefined || raw === "") return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new FabricError(
      "bad_request",
      `Query parameter "${name}" must be a whole number from ${min} to ${max}, got "${raw}"`,
    );
  }
  return value;
}

/** The filters of GET /v1/audit: since (ms), actor, action (a prefix), before (an entry's id), limit. */
export function auditQuery(c: Context<Env>) {
  const text = (name: string) => {
    const value = c.req.query(name);
    if (value !== undefined && value.length > AUDIT_FIELD_CHARS) {
      throw new FabricError("bad_request", `"${name}" holds at most ${AUDIT_FIELD_CHARS} characters`);
    }
    return value === "" ? undefined : value;
  };
  const since = c.req.query("since") === undefined ? undefined : intParam(c, "since", 0, 0, Number.MAX_SAFE_INTEGER);
  const before = c.req.query("before") === undefined ? undefined : intParam(c, "before", 0, 1, Number.MAX_SAFE_INTEGER);
  const limit = intParam(c, "limit", 100, 1, MAX_AUDIT_PAGE);
  return { since, actor: text("actor"), actionPrefix: text("action"), before, limit };
}

/** An answer that says it failed without an error behind it (a 404 of no route): its code from its status. */
export function statusError(status: number): FabricError {
  const code = Object.entries(ERROR_STATUS).find(([, s]) => s === status)?.[0] as ErrorCode | undefined;
  return new FabricError(code ?? (status >= 500 ? "internal" : "bad_request"), `status ${status}`);
}

/** A `state` query parameter: a task state, or absent. */
export function taskStateParam(value: string | undefined): TaskState | undefined {
  if (value === undefined) return undefined;
  if (!(TASK_STATES as readonly string[]).includes(value)) {
    throw new FabricError("bad_request", `"state" must be one of ${TASK_STATES.join(", ")}`);
  }
  return value as TaskState;
}
