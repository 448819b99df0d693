/**
 * The CLI's exit codes, documented in `fabric --help` and docs/commands.md: 0 success, 1 a task failed or
 * the job was cancelled (or another failure), 2 invalid file or flags, 3 the tracker cannot be
 * reached, cannot serve now (503: its store or the leader away; try again) or refused the credentials, 4 `submit --wait --timeout` gave up (the job goes on), 5 the
 * data directory is in use by another tracker or agent, 6 the tracker refused the action to this token
 * (403: its role does not allow it; the message names the role it needs).
 */
export const EXIT = { ok: 0, failed: 1, usage: 2, unreachable: 3, timedOut: 4, locked: 5, forbidden: 6 } as const;
