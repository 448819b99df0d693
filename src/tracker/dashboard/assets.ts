/**
 * The dashboard's own files (assets/): the stylesheet, the live-update script and the icon, read once
 * from beside this module (`deno task compile` includes the folder). Served to anyone: the sign-in page
 * needs them, and they hold nothing of a tracker's.
 */
import type { Context } from "hono";
import { FabricError } from "../../protocol/mod.ts";

const TYPES: Record<string, string> = {
  "live.js": "text/javascript; charset=utf-8",
  "style.css": "text/css; charset=utf-8",
  "icon.svg": "image/svg+xml",
};

const loaded = new Map<string, string>();

export function serveAsset(c: Context, name: string | undefined): Response {
  const type = name === undefined ? undefined : TYPES[name];
  if (name === undefined || type === undefined) throw new FabricError("not_found", `No file "${name}"`);
  let text = loaded.get(name);
  if (text === undefined) {
    text = Deno.readTextFileSync(new URL(`./assets/${name}`, import.meta.url));
    loaded.set(name, text);
  }
  // Asked again on each page load (a tracker upgraded under an open browser sends its new script).
  return c.body(text, 200, { "content-type": type, "cache-control": "no-cache" });
}
