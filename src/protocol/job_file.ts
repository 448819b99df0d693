/**
 * Reading a job file: YAML to a validated `JobSpec`, with every problem located by file, line and
 * column, so a user can jump straight to it.
 */
type Yaml = typeof import("yaml");
import { type JobSpec, jobSpecSchema } from "./job_spec.ts";
import { type JobFileProblem, JobSpecError } from "./job_spec_error.ts";
import { describeIssue, type IssuePath } from "./spec_errors.ts";

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
  const yaml = await import("yaml");
  const lineCounter = new yaml.LineCounter();
  const doc = yaml.parseDocument(text, { lineCounter, prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw new JobSpecError(
      file,
      doc.errors.map((error) => {
        const pos = error.linePos?.[0] ?? { line: 1, col: 1 };
        const reason = error.message.split("\n")[0].replace(/ at line \d+, column \d+:?$/, "");
        return { line: pos.line, column: pos.col, message: `not valid YAML: ${reason}` };
      }),
    );
  }
  const raw = doc.toJS({ maxAliasCount: 100 });
  const parsed = jobSpecSchema.safeParse(raw);
  const locate = (path: IssuePath) => {
    const pos = lineCounter.linePos(nodeOffset(yaml, doc.contents, path));
    return { line: pos.line, column: pos.col };
  };
  if (parsed.success) return { spec: parsed.data, raw, locate };
  const problems = parsed.error.issues.map((issue) => {
    const offset = issue.code === "unrecognized_keys"
      ? keyOffset(yaml, doc.contents, issue.path, issue.keys[0])
      : nodeOffset(yaml, doc.contents, issue.path);
    const pos = lineCounter.linePos(offset);
    return { line: pos.line, column: pos.col, message: describeIssue(issue, raw) };
  });
  problems.sort((a, b) => a.line - b.line || a.column - b.column);
  throw new JobSpecError(file, problems);
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
