/**
 * Errors that cross a boundary (HTTP, CLI) carry a stable `code` and a human message.
 * The HTTP status for each code lives here so the tracker and the client agree on it.
 */

export const ERROR_STATUS = {
  bad_request: 400,
  invalid_job: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  conflict: 409,
  /** A channel's watch from a revision whose history was compacted (channel.ts): re-read, then watch on. */
  compacted: 410,
  /** A count limit would be passed (a channel's keys, the channels): the message names it and its value. */
  limit_exceeded: 422,
  /** A caller holds as many long polls of a kind as it may. */
  too_many_requests: 429,
  payload_too_large: 413,
  unavailable: 503,
  internal: 500,
} as const;

export type ErrorCode = keyof typeof ERROR_STATUS;

/** An error with a stable code, safe to show to a user. */
export class FabricError extends Error {
  readonly code: ErrorCode;
  readonly details?: unknown;

  constructor(code: ErrorCode, message: string, details?: unknown) {
    super(message);
    this.name = "FabricError";
    this.code = code;
    this.details = details;
  }

  get status(): number {
    return ERROR_STATUS[this.code];
  }
}

/** The JSON body of every error response. */
export interface ErrorBody {
  error: { code: ErrorCode; message: string; details?: unknown };
}

/**
 * The details of a 503 from a tracker that did nothing with the request because no tracker leads now
 * (a takeover under way): a client may send it again, whatever it was, until a leader answers.
 */
export const NO_LEADER_DETAILS = { noLeader: true } as const;

export function isNoLeader(error: unknown): boolean {
  return error instanceof FabricError && error.code === "unavailable" &&
    (error.details as { noLeader?: unknown } | undefined)?.noLeader === true;
}

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === "string" && value in ERROR_STATUS;
}
