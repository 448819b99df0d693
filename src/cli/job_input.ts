/** Reading a job file from disk (or stdin as "-") into a validated spec. */
import { type ParsedJobFile, parseJobFile } from "../protocol/mod.ts";
import { UsageError } from "./args.ts";

export async function readJobFile(file: string): Promise<ParsedJobFile> {
  let text: string;
  try {
    text = file === "-" ? await new Response(Deno.stdin.readable).text() : await Deno.readTextFile(file);
  } catch (error) {
    const reason = error instanceof Deno.errors.NotFound ? "no such file" : (error as Error).message;
    throw new UsageError(`Cannot read the job file "${file}": ${reason}`);
  }
  return parseJobFile(text, file === "-" ? "(stdin)" : file);
}
