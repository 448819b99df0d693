/**
 * An add-on's parameters: its JSON Schema checked once (when the agent loads it, and again when a
 * tracker reads what an agent advertised), and a task's `with:` checked against it, on the agent
 * before the task runs and on the tracker at submit. Ajv compiles each schema to a function; its
 * `pattern` keywords run on RE2 (re2js, as constraint patterns do: pattern.ts), since a schema comes
 * from an agent's disk and a backtracking pattern over a submitter's value could freeze the tracker.
 * No schema is fetched: a `$ref` must point inside the schema itself. Not in mod.ts: Ajv takes ~40 ms
 * to load, and only the agent and the tracker's submit path need it.
 */
import { Ajv, type ErrorObject, type ValidateFunction } from "ajv";
import secureMetaSchema from "ajv/dist/refs/json-schema-secure.json" with { type: "json" };
import { compilePattern, patternFinds } from "./pattern.ts";
import { formatPath, type IssuePath } from "./spec_errors.ts";

/** One way `with:` does not fit: where (under `with`) and why. */
export interface ParameterProblem {
  path: Array<string | number>;
  message: string;
}

function re2(pattern: string): { test: (value: string) => boolean; toString: () => string } {
  const compiled = compilePattern(pattern);
  // Ajv keys its compiled patterns by toString: each must be its own.
  return { test: (value) => patternFinds(compiled, value), toString: () => `re2:${pattern}` };
}
re2.code = "re2";

function newAjv(): Ajv {
  return new Ajv({
    allErrors: true,
    strict: true,
    // "format" is a note for people here: no format vocabulary is loaded, and none is enforced.
    validateFormats: false,
    code: { regExp: re2 },
  });
}

const ajv = newAjv();
/**
 * Ajv's meta-schema for schemas that check untrusted data in bounded time, less its rules on patterns
 * and formats: patterns run on RE2 here, in time linear in the value, and formats are not checked. What
 * is left: `uniqueItems` over objects or arrays needs `maxItems` (the check compares every pair).
 */
const secure = new Ajv({ strict: false }).compile({
  ...secureMetaSchema,
  dependencies: { uniqueItems: secureMetaSchema.dependencies.uniqueItems },
});

/**
 * Whether checking values against `schema` stays cheap whatever the values (Ajv's "secure" meta-schema):
 * the tracker checks a submitter's `with:` only against such a schema, since an agent advertised it.
 */
export function isSecureSchema(schema: Record<string, unknown>): boolean {
  return secure(schema) === true;
}
/** Compiled schemas by their JSON text, bounded: past the cap the cache starts over. */
const compiled = new Map<string, ValidateFunction>();
const MAX_COMPILED = 256;

/** The schema compiled, or an Error saying why it is not a JSON Schema fabric takes. */
export function compileParameters(schema: Record<string, unknown>): ValidateFunction {
  const key = JSON.stringify(schema);
  const known = compiled.get(key);
  if (known) return known;
  if (schema.type !== "object") {
    throw new Error('must have "type": "object" (a task gives its parameters as a mapping)');
  }
  let validate: ValidateFunction;
  try {
    validate = ajv.compile(schema);
  } catch (error) {
    throw new Error(`is not a JSON Schema this agent can use: ${(error as Error).message}`);
  } finally {
    // Kept only in the cache here: two schemas with one "$id" (two versions of an add-on) must not clash.
    ajv.removeSchema(schema);
  }
  if (compiled.size >= MAX_COMPILED) compiled.clear();
  compiled.set(key, validate);
  return validate;
}

/** Why `value` does not fit `schema` (empty when it does); throws as `compileParameters` for a bad schema. */
export function checkParameters(schema: Record<string, unknown>, value: unknown): ParameterProblem[] {
  const validate = compileParameters(schema);
  if (validate(value)) return [];
  return (validate.errors ?? []).slice(0, 20).map(problemOf);
}

function problemOf(error: ErrorObject): ParameterProblem {
  const path: Array<string | number> = error.instancePath === "" ? [] : error.instancePath.slice(1).split("/").map(
    (part) => part.replaceAll("~1", "/").replaceAll("~0", "~"),
  );
  const params = error.params as Record<string, unknown>;
  if (error.keyword === "additionalProperties" && typeof params.additionalProperty === "string") {
    return { path: [...path, params.additionalProperty], message: "is not a parameter of this add-on" };
  }
  if (error.keyword === "required" && typeof params.missingProperty === "string") {
    return { path: [...path, params.missingProperty], message: "is required" };
  }
  return { path, message: error.message ?? `fails "${error.keyword}"` };
}

/** `"with.url" must match pattern "^https?://"` */
export function describeParameterProblem(problem: ParameterProblem): string {
  const field: IssuePath = ["with", ...problem.path];
  return `"${formatPath(field)}" ${problem.message}`;
}
