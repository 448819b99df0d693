/**
 * Checks of a whole document (a job spec as data) before its schema looks at it: how deep it nests,
 * how many values it holds, and that every string and key is clean text. The walk is iterative with
 * an explicit stack, so no input can overflow the call stack, and it stops at the first limit.
 */
import { MAX_SPEC_DEPTH, MAX_SPEC_VALUES } from "./limits.ts";
import { textProblem } from "./text.ts";

export interface DocumentIssue {
  path: PropertyKey[];
  message: string;
}

export interface DocumentLimits {
  depth: number;
  values: number;
}

const DEFAULT_LIMITS: DocumentLimits = { depth: MAX_SPEC_DEPTH, values: MAX_SPEC_VALUES };

/** At most `maxIssues` problems of `document`, in document order; none means the schema may parse it. */
export function checkDocument(document: unknown, limits = DEFAULT_LIMITS, maxIssues = 10): DocumentIssue[] {
  const issues: DocumentIssue[] = [];
  const stack: Array<{ value: unknown; path: PropertyKey[] }> = [{ value: document, path: [] }];
  let values = 1;
  while (stack.length > 0 && issues.length < maxIssues) {
    const { value, path } = stack.pop()!;
    if (typeof value === "string") {
      const problem = textProblem(value);
      if (problem !== null) issues.push({ path, message: problem });
      continue;
    }
    if (value === null || typeof value !== "object") continue;
    const entries: Array<[PropertyKey, unknown]> = Array.isArray(value)
      ? value.map((item, i) => [i, item])
      : Object.entries(value);
    if (entries.length === 0) continue;
    if (path.length >= limits.depth) {
      issues.push({ path, message: `nests deeper than ${limits.depth} levels` });
      continue;
    }
    values += entries.length;
    if (values > limits.values) {
      issues.push({ path: [], message: `holds more than ${limits.values} values (maps, lists and scalars)` });
      break;
    }
    for (let i = entries.length - 1; i >= 0; i--) {
      const [key, item] = entries[i];
      const problem = typeof key === "string" ? textProblem(key) : null;
      if (problem !== null) {
        issues.push({ path, message: `has the key ${JSON.stringify(key)}, which ${problem}` });
        continue;
      }
      stack.push({ value: item, path: [...path, key] });
    }
  }
  return issues;
}
