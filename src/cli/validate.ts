/** `fabric validate FILE`: check a job file without submitting it. */
import { parseFlags, UsageError, wantsHelp } from "./args.ts";
import { readJobFile } from "./job_input.ts";
import { expandJob } from "../protocol/mod.ts";

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
  console.log(`"${parsed.positionals[0]}" is valid: job "${spec.name}", ${expandJob(spec).length} task(s)`);
  return 0;
}
