/**
 * A request body to JSON, strictly: UTF-8 that is not valid is refused rather than replaced by U+FFFD,
 * and nesting is bounded before JSON.parse runs (V8 took 2.3 s for a million nested lists, and a body
 * may be 32 MB).
 */
import { FabricError } from "./errors.ts";
import { decodeUtf8 } from "./text.ts";

/** Deeper than any body of the API needs (a job spec is bounded again, at 32, by document.ts). */
export const MAX_BODY_DEPTH = 64;

/** The JSON value of a body, or a `bad_request` FabricError saying what is wrong with it. */
export function parseJsonBody(bytes: Uint8Array): unknown {
  let text: string;
  try {
    text = decodeUtf8(bytes);
  } catch (error) {
    throw new FabricError("bad_request", `The request body is ${(error as Error).message}`);
  }
  const deep = nestingOverflow(text, MAX_BODY_DEPTH);
  if (deep !== null) {
    throw new FabricError(
      "bad_request",
      `The request body nests deeper than ${MAX_BODY_DEPTH} levels (at character ${deep + 1})`,
    );
  }
  try {
    return JSON.parse(text);
  } catch {
    throw new FabricError("bad_request", "The request body is not valid JSON");
  }
}

/** The index where `[` and `{` outside strings first nest deeper than `limit`, or null. One pass. */
export function nestingOverflow(text: string, limit: number): number | null {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++; // a backslash escapes the next character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      if (++depth > limit) return i;
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return null;
}
