/**
 * The task drivers by kind: the one place a new kind's driver is added. The `addon` driver finds the
 * add-on a task uses among those its agent loaded, at run time.
 */
import type { TaskKind } from "../../protocol/mod.ts";
import type { TaskDriver } from "../driver.ts";
import { addonDriver } from "./addon.ts";
import { gitDriver } from "./git.ts";
import { scriptDriver } from "./script.ts";
import { shellDriver } from "./shell.ts";

const DRIVERS: { [K in TaskKind]: TaskDriver<K> } = {
  shell: shellDriver,
  script: scriptDriver,
  git: gitDriver,
  addon: addonDriver,
};

export function driverFor<K extends TaskKind>(kind: K): TaskDriver<K> {
  return DRIVERS[kind];
}
