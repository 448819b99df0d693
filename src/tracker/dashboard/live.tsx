/**
 * The parts of a page that update without a reload. The page's script (assets/live.js) asks the
 * region's URL again with `since` (what it has) and swaps in the answer; the server answers when
 * there is something new: a job's page waits on the job's own wakeup (a long poll, as `fabric submit
 * --wait` does), a list answers at once and the script asks again after `everyMs`. 204: no change.
 */
import type { Context } from "hono";
import { raw } from "hono/html";
import type { Child } from "hono/jsx";
import { createHash } from "node:crypto";

/** How long a job's live region waits for the job to change before answering "no change". */
export const LIVE_WAIT_MS = 20_000;

export interface LiveOptions {
  /** The page's own URL with `fragment=1`: the script adds `since`. */
  url: string;
  /** What the client has: a job's version; by default a hash of the content. */
  version?: number;
  /** Least time between two asks (a list); 0 for a long poll. */
  everyMs: number;
  /** Nothing more will change: the script stops asking. */
  ended?: boolean;
}

export interface LiveRegion {
  html: string;
  version: string;
}

/** The region around `content`, rendered once (a list's version is its content's hash). */
export async function liveRegion(content: Child, options: LiveOptions): Promise<LiveRegion> {
  const inner = String(await <>{content}</>);
  const version = options.version === undefined
    ? createHash("sha256").update(inner).digest("base64url").slice(0, 22)
    : String(options.version);
  const region = (
    <div
      id="live"
      data-live={options.url}
      data-since={version}
      data-every={String(options.everyMs)}
      data-ended={options.ended ? "1" : undefined}
    >
      {raw(inner)}
    </div>
  );
  return { html: String(await region), version };
}

/** The answer to the script's ask: the region, or 204 when the client has it already. */
export function liveAnswer(c: Context, region: LiveRegion): Response {
  if (c.req.query("since") === region.version) return c.body(null, 204);
  return c.html(region.html);
}

/** Whether this request is the script asking for a region (`fragment=1`). */
export function wantsFragment(c: Context): boolean {
  return c.req.query("fragment") === "1";
}
