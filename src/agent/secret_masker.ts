/**
 * Replaces a task's secrets with `***` in its output before the output leaves the agent. Text comes
 * in pieces (a pipe's reads), and a secret may be cut between two of them: the end of a piece that
 * could be the start of a secret is held back until the next piece says whether it is (or until the
 * stream ends), so no part of a value is sent before it is known not to be one.
 *
 * What is masked, for each value: the value itself, each of its lines (a key file printed line by
 * line), its JSON-escaped form (a value with quotes or newlines printed inside JSON), and its
 * base64 as `base64` prints it. Pieces shorter than MIN_SECRET_CHARS are not masked (they would mask
 * ordinary text). Anything else a task makes of a value (hex, URL-encoding, a part, base64 of the
 * value within other data) goes out as the task wrote it: the mask guards against accidents, not
 * against a job that wants the value out.
 */
import { Buffer } from "node:buffer";
import { MIN_SECRET_CHARS } from "../protocol/mod.ts";

export const MASK = "***";

/** The strings masked for these values, longest first (so a value wins over one of its lines). */
export function maskedForms(values: Iterable<string>): string[] {
  const forms = new Set<string>();
  for (const value of values) {
    const lines = value.split("\n").map((line) => line.replace(/\r$/, ""));
    for (const form of [value, JSON.stringify(value).slice(1, -1), Buffer.from(value).toString("base64"), ...lines]) {
      if (form.trim().length >= MIN_SECRET_CHARS) forms.add(form);
    }
    // Base64 without its padding, as many tools print it.
    const base64 = Buffer.from(value).toString("base64").replace(/=+$/, "");
    if (base64.length >= MIN_SECRET_CHARS) forms.add(base64);
  }
  return [...forms].sort((a, b) => b.length - a.length);
}

/** One stream's masking: `push` each piece of text, then `end` once. */
export class SecretMasker {
  readonly #forms: string[];
  /** For each form, KMP's failure function: finds how much of a form ends a piece in one pass. */
  readonly #failure: Int32Array[];
  #held = "";

  constructor(forms: string[]) {
    this.#forms = forms;
    this.#failure = forms.map(failureFunction);
  }

  /** The text that can go out now: `text` (after what was held back) masked, less a possible secret's start. */
  push(text: string): string {
    if (text === "") return "";
    const whole = this.#held === "" ? text : this.#held + text;
    const { out, rest } = this.#maskComplete(whole);
    const keep = this.#partialAtEnd(rest);
    this.#held = rest.slice(rest.length - keep);
    return out + rest.slice(0, rest.length - keep);
  }

  /** What is still held back: the stream ended, so it is no secret's start after all. */
  end(): string {
    const held = this.#held;
    this.#held = "";
    return held;
  }

  /** Every whole occurrence masked (the leftmost first, the longest form at one place); `rest` is after the last. */
  #maskComplete(text: string): { out: string; rest: string } {
    const forms = this.#forms;
    const next = forms.map((form) => text.indexOf(form));
    let out = "";
    let from = 0;
    for (;;) {
      let best = -1;
      for (let i = 0; i < forms.length; i++) {
        if (next[i] >= 0 && next[i] < from) next[i] = text.indexOf(forms[i], from);
        if (next[i] >= 0 && (best < 0 || next[i] < next[best])) best = i;
      }
      if (best < 0) return { out, rest: from === 0 ? text : text.slice(from) };
      out += text.slice(from, next[best]) + MASK;
      from = next[best] + forms[best].length;
    }
  }

  /** The length of the longest end of `text` that is the start of a form (shorter than the form). */
  #partialAtEnd(text: string): number {
    let longest = 0;
    for (let i = 0; i < this.#forms.length; i++) {
      const form = this.#forms[i];
      const failure = this.#failure[i];
      // Only the last form.length - 1 characters can begin a form that is cut at the end.
      let matched = 0;
      for (let at = Math.max(0, text.length - form.length + 1); at < text.length; at++) {
        const c = text.charCodeAt(at);
        while (matched > 0 && form.charCodeAt(matched) !== c) matched = failure[matched - 1];
        if (form.charCodeAt(matched) === c) matched++;
        // A whole form here was masked already; what is matched past it is a new start.
        if (matched === form.length) matched = failure[matched - 1];
      }
      longest = Math.max(longest, matched);
    }
    return longest;
  }
}

/** failure[i]: the longest proper prefix of `form` that is also a suffix of form[0..i]. */
function failureFunction(form: string): Int32Array {
  const failure = new Int32Array(form.length);
  let k = 0;
  for (let i = 1; i < form.length; i++) {
    while (k > 0 && form.charCodeAt(i) !== form.charCodeAt(k)) k = failure[k - 1];
    if (form.charCodeAt(i) === form.charCodeAt(k)) k++;
    failure[i] = k;
  }
  return failure;
}

/** `text` with every secret masked, whole (an error message, not a stream). */
export function maskAll(text: string, values: readonly string[]): string {
  if (values.length === 0) return text;
  const masker = new SecretMasker(maskedForms(values));
  return masker.push(text) + masker.end();
}

/**
 * What a task left in $FABRIC_OUTPUT, its secrets masked as in its output (a value inside a JSON
 * string is masked in its escaped form). JSON that masking breaks (a value written as a number) is
 * not passed on: the task fails, saying why.
 */
export function maskOutputFile(
  file: { output?: string; outputError?: string },
  values: readonly string[],
): { output?: string; outputError?: string } {
  if (file.output === undefined || values.length === 0) return file;
  const output = maskAll(file.output, values);
  if (output === file.output) return file;
  try {
    JSON.parse(output);
  } catch {
    return { outputError: "$FABRIC_OUTPUT holds a secret where masking it leaves no valid JSON" };
  }
  return { output };
}
