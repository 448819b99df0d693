/**
 * The one place an error becomes an HTTP answer, for Hono's routes, the agents' fast path and the
 * HTTPS layer alike: `{error: {code, message, details}}` with the code's status. A FabricError is the
 * caller's to read; anything else is a bug, logged with its stack and answered with a message that
 * gives nothing away.
 */
import { type ErrorBody, FabricError } from "../../protocol/mod.ts";

export interface Answer {
  status: number;
  /** JSON text. */
  body: string;
}

const INTERNAL: ErrorBody = {
  error: { code: "internal", message: "The tracker hit an internal error; see its log" },
};

/** `where` names the request in the log, e.g. `POST /v1/jobs`. */
export function errorResponse(error: unknown, where: string, log: (line: string) => void): Answer {
  if (error instanceof FabricError) {
    if (error.code === "unavailable" || error.code === "internal") log(`${where}: ${error.message}`);
    const body: ErrorBody = { error: { code: error.code, message: error.message, details: error.details } };
    return { status: error.status, body: JSON.stringify(body) };
  }
  log(`${where} failed: ${(error as Error)?.stack ?? error}`);
  return { status: 500, body: JSON.stringify(INTERNAL) };
}
