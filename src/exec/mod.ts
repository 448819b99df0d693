/**
 * Running tasks: one driver per task kind behind one interface, each task with everything it starts kept
 * track of, and what an agent keeps between its tasks in an `ExecRuntime` it owns.
 */
export type { Execution, Finished, Launch, ProcessSpec, TaskContext, TaskDirs, TaskDriver } from "./driver.ts";
export { TaskStopped } from "./driver.ts";
export { driverFor } from "./drivers/registry.ts";
export { startProcess } from "./process.ts";
export { ExecRuntime, type ExecRuntimeOptions } from "./runtime.ts";
export { closeInheritedOnExec } from "./inherited_fds.ts";
export { INBOX_PREFIX } from "./standby.ts";
export { findExecutable, SYSTEM_PATH } from "./_path_lookup.ts";
export { shellCommand, type ShellTask } from "./drivers/shell.ts";
export { ADDON_DIR } from "./drivers/addon.ts";
export type { AddonFile, AddonRun, LoadedAddon } from "./loaded_addon.ts";
export { bwrapArgs, type SandboxOptions } from "./sandbox.ts";
export {
  DEFAULT_TASK_USER,
  dropPrivileges,
  handOverTaskDir,
  openWorkRoot,
  reclaimTaskDir,
  resolveTaskUser,
  type TaskUser,
  unreachablePathEntries,
} from "./task_user.ts";
export type { CgroupSupport } from "./cgroup.ts";
export { detectCgroup } from "./cgroup_detect.ts";
export { createTaskCgroup } from "./_cgroup_create.ts";
export { removeTaskCgroup } from "./_cgroup_kill.ts";
export { type Capabilities, probeCapabilities, type ProbeOptions } from "./probe.ts";
export {
  type CheckoutOptions,
  checkoutRepo,
  type CheckoutResult,
  GitError,
  type GitErrorKind,
  type GitSource,
  redactUrl,
} from "./git.ts";
export { childPids, descendantPids, isAlive } from "./process_tree.ts";
export { listable, type OpenedTaskFile, openTaskFile, readTaskFile, type TaskFile } from "./task_file.ts";
export { killLeftovers, type ProcessRecord, processStartTicksLater } from "./leftovers.ts";
