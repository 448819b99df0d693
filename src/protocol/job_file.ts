/**
 * Reading a job file: YAML to a validated `JobSpec`, with every problem located by file, line and
 * column, so a user can jump straight to it.
 */
type Yaml = typeof import("yaml");
import type { JobSpec } from "./job_spec.ts";
import { type JobFileProblem, JobSpecError } from "./job_spec_error.ts";
import { validateJobSpec } from "./job_validate.ts";
import { MAX_JOB_FILE_BYTES, MAX_SPEC_DEPTH } from "./limits.ts";
import { describeIssue, type IssuePath } from "./spec_errors.ts";
import { utf8Length } from "./text.ts";

/** Alias uses (`*name`) a job file may make while it is turned into data: more is an alias bomb. */
const MAX_ALIAS_USES = 100;

export { type JobFileProblem, JobSpecError };

export interface ParsedJobFile {
  spec: JobSpec;
  /** The document as plain data, as it is sent to the tracker. */
  raw: unknown;
  /** Line and column of the value at `path` (for problems found after parsing, like a missing script). */
  locate(path: IssuePath): { line: number; column: number };
}

/** Parse and validate a job file. The YAML library (~50 ms to load) is loaded only by those who read files. */
export async function parseJobFile(text: string, file: string): Promise<ParsedJobFile> {
  const bytes = text.length > MAX_JOB_FILE_BYTES / 3 ? utf8Length(text) : 0;
  if (bytes > MAX_JOB_FILE_BYTES) {
    throw new JobSpecError(file, [{ line: 1, column: 1, message: tooLarge(bytes) }]);
  }
  const yaml = await import("yaml");
  const lineCounter = new yaml.LineCounter();
  const deep = flowDepthOffset(yaml, text);
  if (deep !== null) {
    const line = lineStarts(text, deep);
    throw new JobSpecError(file, [{ line: line.number, column: deep - line.start + 1, message: tooDeep() }]);
  }
  // logLevel "error": the library's warnings (a map used as a key) would go to stderr as Node warnings.
  const doc = yaml.parseDocument(text, { lineCounter, prettyErrors: true, uniqueKeys: true, logLevel: "error" });
  if (doc.errors.length > 0) {
    throw new JobSpecError(
      file,
      doc.errors.map((error) => {
        const pos = error.linePos?.[0] ?? { line: 1, col: 1 };
        const reason = error.message.split("\n")[0].replace(/ at line \d+, column \d+:?$/, "");
        // The YAML library turns its own stack overflow into an error: deep block nesting.
        const message = /call stack/i.test(reason) ? tooDeep() : `not valid YAML: ${reason}`;
        return { line: pos.line, column: pos.col, message };
      }),
    );
  }
  let raw: unknown;
  try {
    raw = doc.toJS({ maxAliasCount: MAX_ALIAS_USES });
  } catch (error) {
    // yaml throws ReferenceError for an alias bomb ("Excessive alias count ...") and for an alias
    // whose anchor is missing or comes after it.
    if (!(error instanceof ReferenceError)) throw error;
    const pos = lineCounter.linePos(firstAliasOffset(yaml, doc));
    const message = /excessive alias count/i.test(error.message)
      ? `its aliases (*name) expand too far: a job file may use aliases at most ${MAX_ALIAS_USES} times ` +
        `once expanded (an "alias bomb" would grow without end)`
      : `not valid YAML: ${error.message}`;
    throw new JobSpecError(file, [{ line: pos.line, column: pos.col, message }]);
  }
  const parsed = validateJobSpec(raw);
  const locate = (path: IssuePath) => {
    const pos = lineCounter.linePos(nodeOffset(yaml, doc.contents, path));
    return { line: pos.line, column: pos.col };
  };
  if (parsed.success) return { spec: parsed.data, raw, locate };
  const problems = parsed.issues.map((issue) => {
    const offset = issue.code === "unrecognized_keys"
      ? keyOffset(yaml, doc.contents, issue.path, issue.keys[0])
      : nodeOffset(yaml, doc.contents, issue.path);
    const pos = lineCounter.linePos(offset);
    return { line: pos.line, column: pos.col, message: describeIssue(issue, raw) };
  });
  problems.sort((a, b) => a.line - b.line || a.column - b.column);
  throw new JobSpecError(file, problems);
}

function tooLarge(bytes: number): string {
  return `the file is ${bytes} bytes; a job file may be at most ${MAX_JOB_FILE_BYTES} bytes (4 MiB)`;
}

function tooDeep(): string {
  return `the document nests deeper than ${MAX_SPEC_DEPTH} levels`;
}

/**
 * Where flow collections (`[`, `{`) first nest deeper than the limit, or null: found with the YAML
 * lexer, which is iterative and stops there, before the parser (recursive, and slow to fail: a
 * million brackets took 31 s) sees the text. Block nesting needs a wider indent per level and stays
 * within what the parser handles at this file size.
 */
/** The YAML lexer's markers for a document, a flow error's end and a scalar: not text of the source. */
const LEXER_MARKERS = new Set(["\x02", "\x18", "\x1f"]);

function flowDepthOffset(yaml: Yaml, text: string): number | null {
  let depth = 0;
  let offset = 0;
  for (const token of new yaml.Lexer().lex(text)) {
    if (token === "[" || token === "{") {
      if (++depth > MAX_SPEC_DEPTH) return offset;
    } else if (token === "]" || token === "}") depth--;
    // The lexer's control tokens (document, flow-error-end, scalar markers) stand for no text.
    if (!LEXER_MARKERS.has(token)) offset += token.length;
  }
  return null;
}

/** The 1-based number and the start offset of the line holding `offset`. */
function lineStarts(text: string, offset: number): { number: number; start: number } {
  let number = 1;
  let start = 0;
  for (let i = text.indexOf("\n"); i !== -1 && i < offset; i = text.indexOf("\n", i + 1)) {
    number++;
    start = i + 1;
  }
  return { number, start };
}

function firstAliasOffset(yaml: Yaml, doc: import("yaml").Document): number {
  let offset = 0;
  yaml.visit(doc, {
    Alias(_key, node) {
      offset = node.range?.[0] ?? 0;
      return yaml.visit.BREAK;
    },
  });
  return offset;
}

/** Offset of the deepest node that exists along `path` (a missing key points at its parent). */
function nodeOffset(yaml: Yaml, root: unknown, path: IssuePath): number {
  let node = root;
  let offset = rangeStart(yaml, root);
  for (const part of path) {
    const next = child(yaml, node, part);
    if (next === undefined) break;
    node = next;
    offset = rangeStart(yaml, next) ?? offset;
  }
  return offset ?? 0;
}

function keyOffset(yaml: Yaml, root: unknown, path: IssuePath, key: string): number {
  let node = root;
  for (const part of path) node = child(yaml, node, part) ?? node;
  if (yaml.isMap(node)) {
    const pair = node.items.find((item) =>
      yaml.isPair(item) && yaml.isScalar(item.key) && String(item.key.value) === key
    );
    if (pair && yaml.isScalar(pair.key)) return rangeStart(yaml, pair.key) ?? 0;
  }
  return nodeOffset(yaml, root, path);
}

function child(yaml: Yaml, node: unknown, part: PropertyKey): unknown {
  if (!yaml.isNode(node)) return undefined;
  if ("get" in node && typeof node.get === "function") {
    return (node as { get(key: unknown, keepScalar: boolean): unknown }).get(part, true);
  }
  return undefined;
}

function rangeStart(yaml: Yaml, node: unknown): number | undefined {
  return yaml.isNode(node) && node.range ? node.range[0] : undefined;
}
