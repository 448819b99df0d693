/** Running tasks: one driver per task kind behind one interface, each task in its own process group. */
export type { Execution, Finished, ProcessSpec } from "./driver.ts";
export { startProcess } from "./process.ts";
export { shellCommand, type ShellTask, startShell } from "./shell.ts";
