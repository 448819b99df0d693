/** Turning schema issues into sentences a user can act on: `"count" must be a number, got "three"`. */
import type { z } from "zod";

export type IssuePath = ReadonlyArray<PropertyKey>;

/** `tasks[2].count` */
export function formatPath(path: IssuePath): string {
  let out = "";
  for (const part of path) {
    if (typeof part === "number") out += `[${part}]`;
    else out += out === "" ? String(part) : `.${String(part)}`;
  }
  return out === "" ? "(the document)" : out;
}

/** The value at `path` in `data`, or undefined. */
export function valueAt(data: unknown, path: IssuePath): unknown {
  let current: unknown = data;
  for (const part of path) {
    if (current === null || typeof current !== "object") return undefined;
    current = (current as Record<PropertyKey, unknown>)[part as string];
  }
  return current;
}

function describeValue(value: unknown): string {
  if (value === undefined) return "nothing";
  if (value === null) return "null";
  if (Array.isArray(value)) return "a list";
  if (typeof value === "object") return "a mapping";
  if (typeof value === "string") return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
  return `${typeof value} ${String(value)}`;
}

const EXPECTED: Record<string, string> = {
  string: "a string",
  number: "a number",
  int: "a whole number",
  boolean: "true or false",
  object: "a mapping",
  array: "a list",
  record: "a mapping",
};

/** One sentence for one zod issue, naming the field. */
export function describeIssue(issue: z.core.$ZodIssue, data: unknown): string {
  const field = issue.path.length > 0 ? `"${formatPath(issue.path)}"` : "the document";
  const value = valueAt(data, issue.path);
  switch (issue.code) {
    case "invalid_type":
      if (value === undefined) return `${field} is required`;
      return `${field} must be ${EXPECTED[issue.expected] ?? issue.expected}, got ${describeValue(value)}`;
    case "unrecognized_keys":
      return `${field === "the document" ? "the document" : field} has unknown field${
        issue.keys.length > 1 ? "s" : ""
      } ${issue.keys.map((k) => `"${k}"`).join(", ")}`;
    case "too_small":
      if (issue.origin === "array") return `${field} needs at least ${plural(Number(issue.minimum), "item")}`;
      if (issue.origin === "string") return `${field} must not be empty`;
      return `${field} must be at least ${issue.minimum}, got ${describeValue(value)}`;
    case "too_big":
      if (issue.origin === "array") return `${field} may hold at most ${plural(Number(issue.maximum), "item")}`;
      return `${field} must be at most ${issue.maximum}, got ${describeValue(value)}`;
    case "invalid_value":
      return `${field} must be one of ${issue.values.map((v) => JSON.stringify(v)).join(", ")}, got ${
        describeValue(value)
      }`;
    case "invalid_format":
      return `${field} ${issue.message}, got ${describeValue(value)}`;
    case "custom":
      return `${field} ${issue.message}`;
    case "invalid_key": {
      const parent = issue.path.length > 1 ? `"${formatPath(issue.path.slice(0, -1))}"` : "the document";
      const key = String(issue.path.at(-1));
      return `${parent} has the key "${key}", which ${issue.issues[0]?.message ?? "is not allowed"}`;
    }
    case "invalid_union": {
      // The branch that took the value's type tells what is wrong inside it (`backoff.max`, not `backoff`).
      const branch = issue.errors.find((errors) =>
        errors.length > 0 &&
        errors.every((inner) => inner.path.length > 0 || !["invalid_type", "invalid_union"].includes(inner.code))
      );
      if (branch) return describeIssue({ ...branch[0], path: [...issue.path, ...branch[0].path] }, data);
      return `${field} is not valid: got ${describeValue(value)}`;
    }
    default:
      return `${field}: ${issue.message}`;
  }
}

function plural(n: number, noun: string): string {
  return n === 1 ? `one ${noun}` : `${n} ${noun}s`;
}
