/** The one error a store's failure becomes, whichever store it is: callers see what could not be done, and why. */
import { FabricError } from "../protocol/mod.ts";

export function storeError(what: string, error: unknown): FabricError {
  const message = (error as Error)?.message ?? String(error);
  return new FabricError("unavailable", `The store could not ${what}: ${message}`);
}
