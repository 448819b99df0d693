/** A page's query parameters, checked: a bad one is a 400 that names it, never a guess. */
import type { Context } from "hono";
import { FabricError } from "../../protocol/mod.ts";

/** Rows per page: a job of a million tasks is shown this many at a time. */
export const PAGE_SIZE = 50;
const MAX_PAGE = 100_000;

/** `?page=N` (from 1), and the rows it starts at. */
export function pageParam(c: Context): { page: number; offset: number } {
  const page = wholeNumber(c, "page", 1, MAX_PAGE) ?? 1;
  return { page, offset: (page - 1) * PAGE_SIZE };
}

export function wholeNumber(c: Context, name: string, min: number, max: number): number | null {
  const raw = c.req.query(name);
  if (raw === undefined || raw === "") return null;
  const value = Number(raw);
  if (!/^\d+$/.test(raw) || value < min || value > max) {
    throw new FabricError("bad_request", `"${name}" must be a whole number from ${min} to ${max}, got "${raw}"`);
  }
  return value;
}

/** `?state=S`, one of `states`; undefined for none (or "all"). */
export function stateParam<S extends string>(c: Context, states: readonly S[]): S | undefined {
  const raw = c.req.query("state");
  if (raw === undefined || raw === "" || raw === "all") return undefined;
  if (!(states as readonly string[]).includes(raw)) {
    throw new FabricError("bad_request", `"state" must be one of ${states.join(", ")}, got "${raw}"`);
  }
  return raw as S;
}

/** A free text parameter (a name filter), at most `max` characters. */
export function textParam(c: Context, name: string, max: number): string | undefined {
  const raw = c.req.query(name)?.trim();
  if (!raw) return undefined;
  if (raw.length > max) throw new FabricError("bad_request", `"${name}" may be at most ${max} characters long`);
  return raw;
}

/** `path?k=v&...` with the parameters that are set, URL-encoded. */
export function href(path: string, params: Record<string, string | number | undefined | null>): string {
  const query = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== "") query.set(key, String(value));
  }
  const text = query.toString();
  return text ? `${path}?${text}` : path;
}
