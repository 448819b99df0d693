/** `fabric validate FILE`: check a job file without submitting it. */
import { fanOut } from "../protocol/task_graph.ts";
import { parseFlags, UsageError, wantsHelp } from "./args.ts";
import { readJobFile } from "./job_input.ts";
import { escapeControls } from "./output.ts";

const USAGE = `
fabric validate FILE

Check a job file without submitting it: exit 0 and a summary if it is valid, exit 2 and each problem
with its line and column if not.
`;

export async function validateCommand(args: string[]): Promise<number> {
  const parsed = parseFlags("validate", args, {});
  if (wantsHelp(parsed, USAGE)) return 0;
  if (parsed.positionals.length !== 1) throw new UsageError("fabric validate takes one job file");
  const { spec } = await readJobFile(parsed.positionals[0]);
  const tasks = spec.tasks.reduce((n, task) => n + fanOut(task), 0);
  console.log(escapeControls(`"${parsed.positionals[0]}" is valid: job "${spec.name}", ${tasks} task(s)`));
  return 0;
}
