/**
 * The add-on driver: a task that `uses: NAME@VERSION` runs what the agent's loaded add-on of that
 * name and version says (agent/addon_loader.ts), found at run time in the agent's `ExecRuntime`.
 * Before anything runs, the task's `with:` is checked against the add-on's JSON Schema (a misfit
 * fails the task's start with the schema's words). The add-on's files, as read when the agent loaded
 * them, are written read-only into fabric's folder of the task (`.fabric/addon/`), so that what runs
 * is what was checked at load, whatever became of the folder since. The parameters reach the task as
 * data only: a JSON file ($FABRIC_WITH_FILE) and a variable per top-level key (FABRIC_WITH_<KEY>),
 * never spliced into a command line. It runs in the task's sandbox with the task's permissions, as
 * any task: an add-on gets no more than the task grants.
 */
import { dirname, join } from "node:path";
import { addonKey, envSuffix } from "../../protocol/mod.ts";
import { checkParameters, describeParameterProblem } from "../../protocol/parameters.ts";
import type { Launch, TaskDriver } from "../driver.ts";
import { startProcess } from "../process.ts";
import { denoLaunch } from "./script.ts";
import type { AddonFile } from "../loaded_addon.ts";

/** Where an add-on's files are put in a task's folder for fabric. */
export const ADDON_DIR = "addon";

export const addonDriver: TaskDriver<"addon"> = {
  kind: "addon",
  async prepare(task, context) {
    const { dirs, host } = context;
    const key = addonKey(task.addon);
    const addon = host.addons.get(key);
    if (addon === undefined) throw new Error(`this agent has no add-on ${key}`);
    const problems = checkParameters(addon.parameters, task.addon.with);
    if (problems.length > 0) {
      throw new Error(
        `"with" does not fit the parameters of add-on ${key}: ${problems.map(describeParameterProblem).join("; ")}`,
      );
    }
    const addonDir = join(dirs.metaDir, ADDON_DIR);
    await writeAddonFiles(addonDir, addon.files);
    const withFile = join(dirs.metaDir, "with.json");
    await Deno.writeTextFile(withFile, JSON.stringify(task.addon.with) + "\n", { mode: 0o444 });
    const env: Record<string, string> = {
      ...withVariables(task.addon.with),
      FABRIC_WITH_FILE: withFile,
      FABRIC_ADDON_DIR: addonDir,
      FABRIC_ADDON: key,
    };
    let launch: Launch;
    const { run } = addon;
    if ("script" in run) {
      launch = denoLaunch(join(addonDir, run.script), task.permissions, {
        ...context,
        env: { ...context.env, ...env },
      });
    } else if ("shell" in run) {
      launch = { command: ["sh", "-e", "-c", run.shell] };
    } else {
      launch = { command: run.argv.map((arg) => arg.replaceAll("{addon}", addonDir)) };
    }
    return { ...launch, env: { ...launch.env, ...env } };
  },
  start: startProcess,
};

/** FABRIC_WITH_<KEY> for each top-level key: a string as it is, anything else as JSON. */
export function withVariables(values: Record<string, unknown>): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(values)) {
    env[`FABRIC_WITH_${envSuffix(key)}`] = typeof value === "string" ? value : JSON.stringify(value);
  }
  return env;
}

/** The files, read-only (an executable stays one), under `dir`, which is made. */
async function writeAddonFiles(dir: string, files: AddonFile[]): Promise<void> {
  await Deno.mkdir(dir, { recursive: true });
  for (const file of files) {
    const target = join(dir, ...file.path.split("/"));
    await Deno.mkdir(dirname(target), { recursive: true });
    await Deno.writeFile(target, file.data, { mode: file.executable ? 0o555 : 0o444, createNew: true });
  }
}
