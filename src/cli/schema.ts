/** `fabric schema`: the job file's JSON Schema, generated from the zod schema that validates it, for editors. */
import { z } from "zod";
import { jobSpecSchema } from "../protocol/mod.ts";
import { parseFlags, UsageError, wantsHelp } from "./args.ts";

const USAGE = `
fabric schema

Print the JSON Schema of job files (for editors: e.g. "# yaml-language-server: $schema=fabric.schema.json").
`;

export function schemaCommand(args: string[]): Promise<number> {
  const parsed = parseFlags("schema", args, {});
  if (wantsHelp(parsed, USAGE)) return Promise.resolve(0);
  if (parsed.positionals.length > 0) throw new UsageError("fabric schema takes no arguments");
  console.log(JSON.stringify(jobSchema(), null, 2));
  return Promise.resolve(0);
}

export function jobSchema(): Record<string, unknown> {
  // "input": the shape a user writes (durations and sizes as strings), not the parsed values.
  const schema = z.toJSONSchema(jobSpecSchema, { io: "input", unrepresentable: "any" }) as Record<string, unknown>;
  return { ...schema, title: "fabric job file" };
}
