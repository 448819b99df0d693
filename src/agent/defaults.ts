/** The agent's defaults that the CLI needs too, in a module of their own so that it loads nothing else. */

/** How long running tasks may finish when an agent drains before they are handed back. */
export const DEFAULT_STOP_GRACE_MS = 30_000;
