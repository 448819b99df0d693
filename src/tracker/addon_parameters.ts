/**
 * A submitted task's `with:` checked against the parameters schema of the add-on it uses, as an agent
 * advertised it, so that a misfit is refused at submit rather than found by the agent that gets the
 * task. Only when some known agent advertises that add-on (another may join later with it: the task
 * then waits, and its agent checks it before it runs), and its schema is one Ajv deems safe for untrusted
 * data. Each problem carries its path in the job, which
 * the CLI turns into the job file's line and column.
 */
import { addonKey, type AdvertisedAddon, FabricError, formatPath, type JobSpec } from "../protocol/mod.ts";

/** A problem of a job at a path in it (what the CLI locates in the job file). */
export interface PathProblem {
  path: Array<string | number>;
  message: string;
}

/** Throws `invalid_job` naming each `with` value that does not fit its add-on's schema. */
export async function checkAddonParameters(
  spec: JobSpec,
  agents: Iterable<{ record: { capabilities: { addons?: AdvertisedAddon[] } } }>,
): Promise<void> {
  if (!spec.tasks.some((task) => task.uses !== undefined)) return;
  // Ajv (~60 ms to load) only once a job uses an add-on.
  const { checkParameters, isSecureSchema } = await import("../protocol/parameters.ts");
  const schemas = new Map<string, Record<string, unknown>>();
  for (const agent of agents) {
    for (const addon of agent.record.capabilities.addons ?? []) {
      if (!schemas.has(addonKey(addon))) schemas.set(addonKey(addon), addon.parameters);
    }
  }
  const problems: PathProblem[] = [];
  spec.tasks.forEach((task, i) => {
    const schema = task.uses === undefined ? undefined : schemas.get(task.uses);
    // A schema under which a value could be slow to check (`uniqueItems` over objects without `maxItems`...)
    // is left to the agent that runs the task: the tracker serves everyone.
    if (schema === undefined || !isSecureSchema(schema)) return;
    let found;
    try {
      found = checkParameters(schema, task.with ?? {});
    } catch {
      // Agents check their schemas when they load them: one the tracker cannot compile is left to them.
      return;
    }
    for (const problem of found) {
      const path = ["tasks", i, "with", ...problem.path];
      const message = `"${formatPath(path)}" ${problem.message} (the parameters of add-on ${task.uses})`;
      problems.push({ path, message });
    }
  });
  if (problems.length === 0) return;
  throw new FabricError(
    "invalid_job",
    `The job is invalid: ${problems.map((p) => p.message).join("; ")}`,
    { issues: problems.map((p) => p.message), problems },
  );
}
