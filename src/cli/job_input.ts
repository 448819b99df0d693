/** Reading a job file from disk (or stdin as "-") into a validated spec, with the script files it names. */
import { dirname, isAbsolute, join } from "node:path";
import { JobSpecError, type ParsedJobFile, parseJobFile } from "../protocol/job_file.ts";
import { UsageError } from "./args.ts";

export interface JobInput extends ParsedJobFile {
  /** Script files named by `script:` keys, read relative to the job file: path as written -> content. */
  files: Record<string, string>;
}

export async function readJobFile(file: string): Promise<JobInput> {
  let text: string;
  try {
    text = file === "-" ? await new Response(Deno.stdin.readable).text() : await Deno.readTextFile(file);
  } catch (error) {
    const reason = error instanceof Deno.errors.NotFound ? "no such file" : (error as Error).message;
    throw new UsageError(`Cannot read the job file "${file}": ${reason}`);
  }
  const name = file === "-" ? "(stdin)" : file;
  const parsed = await parseJobFile(text, name);
  const base = file === "-" ? Deno.cwd() : dirname(file);
  const files: Record<string, string> = {};
  const problems = [];
  for (const [i, task] of parsed.spec.tasks.entries()) {
    if (task.script === undefined || task.script in files) continue;
    const path = isAbsolute(task.script) ? task.script : join(base, task.script);
    try {
      files[task.script] = await Deno.readTextFile(path);
    } catch (error) {
      const reason = error instanceof Deno.errors.NotFound ? "no such file" : (error as Error).message;
      problems.push({
        ...parsed.locate(["tasks", i, "script"]),
        message: `"tasks[${i}].script" cannot be read from "${path}": ${reason}`,
      });
    }
  }
  if (problems.length > 0) throw new JobSpecError(name, problems);
  return { ...parsed, files };
}
