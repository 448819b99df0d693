/** A job file's problems, located: apart from the parser, so that reporting one loads neither YAML nor zod. */
import { FabricError } from "./errors.ts";

export interface JobFileProblem {
  line: number;
  column: number;
  message: string;
}

/** A job file that cannot be used, with where and why. */
export class JobSpecError extends FabricError {
  readonly file: string;
  readonly problems: JobFileProblem[];

  constructor(file: string, problems: JobFileProblem[]) {
    const lines = problems.map((p) => `line ${p.line}, column ${p.column}: ${p.message}`);
    super("invalid_job", lines.join("\n"), { file, problems });
    this.name = "JobSpecError";
    this.file = file;
    this.problems = problems;
  }
}
