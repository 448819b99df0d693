/**
 * Constraint patterns (`matches`): RE2 syntax, run by re2js in time linear in the label's length.
 * Agents choose their labels, so a backtracking engine let one agent's label freeze the tracker
 * (`^(a+)+$` over 30 a's and a b took 8.8 s in JavaScript's RegExp). RE2 has no backreferences and
 * no lookaround; a pattern matches anywhere in the value unless anchored with ^ and $.
 */
import { RE2JS } from "re2js";
import { z } from "zod";
import { MAX_PATTERN_CHARS, MAX_PATTERN_PROGRAM } from "./limits.ts";
import { textProblem } from "./text.ts";

export type Pattern = RE2JS;

/** A compiled pattern, or a RangeError saying why the source is not one fabric takes. */
export function compilePattern(source: string): Pattern {
  if (source.length > MAX_PATTERN_CHARS) {
    throw new RangeError(`may be at most ${MAX_PATTERN_CHARS} characters long, got ${source.length}`);
  }
  const problem = textProblem(source);
  if (problem !== null) throw new RangeError(problem);
  let pattern: RE2JS;
  try {
    pattern = RE2JS.compile(source);
  } catch (error) {
    const reason = (error as Error).message.replace(/^error parsing regexp: /, "");
    throw new RangeError(`must be an RE2 regular expression (${reason})`);
  }
  // Matching costs the program's size times the value's length: both are bounded.
  if (pattern.programSize() > MAX_PATTERN_PROGRAM) {
    throw new RangeError(
      `is too complex (${pattern.programSize()} RE2 instructions; at most ${MAX_PATTERN_PROGRAM}): use fewer or smaller repeats`,
    );
  }
  return pattern;
}

/** Whether the pattern matches anywhere in `value` (as RegExp's test). */
export function patternFinds(pattern: Pattern, value: string): boolean {
  return pattern.matcher(value).find();
}

export const patternSchema = z.string().superRefine((source, ctx) => {
  try {
    compilePattern(source);
  } catch (error) {
    ctx.addIssue({ code: "custom", message: (error as Error).message });
  }
});
