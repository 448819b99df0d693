// fabric: one executable, three roles (tracker, agent, client). Only this file exits the process.
import { main } from "./src/cli/mod.ts";

if (import.meta.main) Deno.exit(await main(Deno.args));
