/**
 * Where this machine's PostgreSQL is, and whether a test can start it: read by testing/machine.ts
 * (the "postgres" need) and testing/postgres.ts (which starts it). Apart from postgres.ts so that
 * a test file's `lacks()` does not load a database driver.
 */
import { join } from "node:path";

/**
 * Where the server's programs are: Debian's /usr/lib/postgresql/15/bin, else the newest version
 * installed there; FABRIC_POSTGRES_BIN names another.
 */
export const POSTGRES_BIN = Deno.env.get("FABRIC_POSTGRES_BIN") ?? debianPostgresBin();

/** initdb refuses to run as root: as root, the server runs as this user (Debian's package makes it). */
export const SYSTEM_USER = "postgres";

export const POSTGRES_INSTALL = "sudo apt-get install postgresql (Fedora: sudo dnf install postgresql-server)";

function debianPostgresBin(): string {
  const versions: number[] = [];
  try {
    for (const entry of Deno.readDirSync("/usr/lib/postgresql")) {
      if (/^\d+$/.test(entry.name)) versions.push(Number(entry.name));
    }
  } catch { /* not installed */ }
  const version = versions.includes(15) ? 15 : Math.max(15, ...versions);
  return `/usr/lib/postgresql/${version}/bin`;
}

/** Why a test cannot start PostgreSQL here, or null when it can. */
export function postgresProblem(): string | null {
  for (const program of ["initdb", "postgres"]) {
    try {
      Deno.statSync(join(POSTGRES_BIN, program));
    } catch {
      return `PostgreSQL is not installed (no ${join(POSTGRES_BIN, program)}); install it: ${POSTGRES_INSTALL}`;
    }
  }
  if (Deno.uid() === 0 && systemUser() === null) {
    return `running as root, and there is no "${SYSTEM_USER}" user to run PostgreSQL as`;
  }
  return null;
}

/** The uid and gid of the `postgres` system user, from /etc/passwd. */
export function systemUser(): { uid: number; gid: number } | null {
  let passwd: string;
  try {
    passwd = Deno.readTextFileSync("/etc/passwd");
  } catch {
    return null;
  }
  for (const line of passwd.split("\n")) {
    const [name, , uid, gid] = line.split(":");
    if (name === SYSTEM_USER) return { uid: Number(uid), gid: Number(gid) };
  }
  return null;
}
