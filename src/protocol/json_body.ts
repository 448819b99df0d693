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

/**
 * The index where `[` and `{` outside strings first nest deeper than `limit`, or null. One pass, which
 * jumps over each string to its closing quote: most of a body's bytes are in strings (a task's output
 * in a report), and a loop over every character of them cost the tracker 0.85 s of CPU per 200 MB of
 * output, as much as JSON.parse itself.
 */
export function nestingOverflow(text: string, limit: number): number | null {
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22) i = stringEnd(text, i + 1);
    else if (c === 0x5b || c === 0x7b) {
      if (++depth > limit) return i;
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return null;
}

/**
 * The index of the quote that ends the string whose text starts at `from`, or the text's length if it
 * does not end. A quote ends it when an even number of backslashes stands right before it (each pair
 * is one escaped backslash); each backslash is counted for one quote at most, so this stays linear.
 */
function stringEnd(text: string, from: number): number {
  for (let quote = text.indexOf('"', from); quote !== -1; quote = text.indexOf('"', quote + 1)) {
    let backslashes = 0;
    while (quote - backslashes - 1 >= from && text.charCodeAt(quote - backslashes - 1) === 0x5c) backslashes++;
    if (backslashes % 2 === 0) return quote;
  }
  return text.length;
}
