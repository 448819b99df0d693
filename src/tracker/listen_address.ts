/** A listener's address, as clients and messages show it, and why one could not start. */
import { FabricError } from "../protocol/mod.ts";

/** Addresses that mean "every interface". */
export const WILDCARDS = new Set(["0.0.0.0", "::", ""]);

/** Why a listener could not start, by the system's error code: each the user's to fix. */
const LISTEN_ERRORS: Record<string, string> = {
  EADDRINUSE: "the port is in use",
  EACCES: "permission denied (a port under 1024 needs privileges)",
  EADDRNOTAVAIL: "the address is not one of this machine's",
  // Deno's listen says EINVAL for an address that is not this machine's.
  EINVAL: "the address is not one of this machine's",
  ENOTFOUND: "the name does not resolve",
};

/** A listener that could not start is the user's to fix: a FabricError that says so, not a stack trace. */
export function cannotListen(flag: string, where: { hostname: string; port: number }): (error: unknown) => never {
  return (error) => {
    const reason = LISTEN_ERRORS[(error as { code?: string })?.code ?? ""];
    if (!reason) throw error;
    throw new FabricError(
      "unavailable",
      `Cannot listen on ${bracket(where.hostname)}:${where.port} (${flag}): ${reason}`,
    );
  };
}

/** The address a client on this machine uses for a listener on `hostname`. */
export function localHost(hostname: string): string {
  return WILDCARDS.has(hostname) ? "127.0.0.1" : hostname;
}

export function bracket(host: string): string {
  return host.includes(":") ? `[${host}]` : host;
}
