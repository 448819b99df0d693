/**
 * A real PostgreSQL for tests and the bench, started from the Debian packages in a temporary
 * directory: `initdb`, then `postgres` on a loopback port (and a unix socket in that directory).
 * initdb refuses to run as root, so as root both run as the `postgres` system user, in a directory
 * it owns. One server per test file (or bench run), one database per test: `createDatabase`.
 *
 * The server stops when its `stop` is called, and also when the process that started it ends
 * however it ends: a shell between the two waits for its stdin (a pipe from us) to close, then
 * stops PostgreSQL. Nothing is left running by a test that crashed.
 */
import { join } from "node:path";
import postgres from "postgres";
import { POSTGRES_BIN, postgresProblem, SYSTEM_USER, systemUser } from "./postgres_install.ts";
import { REPO, WatchedChild } from "./process.ts";

/** The role fabric connects as: it owns each test database, and is no superuser. */
export const FABRIC_ROLE = "fabric";
const START_TIMEOUT_MS = 30_000;

export interface PostgresServerOptions {
  /**
   * Where the server's temporary directory goes (default: the system's temporary directory). As
   * root, the postgres user must be able to pass through it (mode 0711 or more).
   */
  parent?: string;
  /**
   * Server settings (`-c name=value`) over the defaults for tests: fsync off (a test needs no
   * durability against a power loss), small shared buffers (the machine is shared).
   */
  settings?: Record<string, string>;
  /**
   * A network namespace (testing/netns.ts) the server runs in, listening on that namespace's loopback:
   * for trackers started in it. Its unix socket, which admin() uses, is reachable from anywhere.
   */
  netns?: string;
}

const TEST_SETTINGS: Record<string, string> = {
  fsync: "off",
  full_page_writes: "off",
  shared_buffers: "32MB",
  max_connections: "60",
  // What `postgres` logs goes to our pipe; the checkpoint and connection lines only add noise.
  log_checkpoints: "off",
};

/** The server's own process: the last lines of its log are kept for failures. */
class ServerProcess extends WatchedChild {
  #lines: string[] = [];

  protected received(text: string): void {
    this.#lines.push(...text.split("\n").filter((line) => line !== ""));
    if (this.#lines.length > 100) this.#lines.splice(0, this.#lines.length - 100);
  }

  protected find(pattern: RegExp): RegExpMatchArray | null {
    for (const line of this.#lines) {
      const match = line.match(pattern);
      if (match) return match;
    }
    return null;
  }

  describe(): string {
    return `--- ${this.name} ---\n${this.#lines.join("\n")}`;
  }

  /** Closing our end of its stdin makes the shell stop PostgreSQL (a fast shutdown). */
  async close(): Promise<void> {
    await this.child.stdin.close().catch(() => {});
  }
}

/**
 * Runs PostgreSQL and stops it (SIGINT: a fast shutdown) when its stdin closes, that is when whoever
 * started it closes the pipe or ends. Ends when PostgreSQL does, whatever the reason. (A background
 * command's stdin is /dev/null unless redirected: hence fd 3.)
 */
const WATCHDOG = `exec 3<&0
"$@" & server=$!
( cat <&3 > /dev/null; kill -INT $server ) > /dev/null 2>&1 &
exec 3<&-
wait $server`;

export class PostgresServer {
  readonly root: string;
  #port: number;
  /** The fabric role's password (random per server): in URLs given to trackers through FABRIC_STORE. */
  readonly password: string;
  #settings: Record<string, string>;
  #user: { uid: number; gid: number } | undefined;
  #netns: string | undefined;
  #process: ServerProcess | null = null;
  #databases = 0;

  private constructor(
    root: string,
    port: number,
    password: string,
    settings: Record<string, string>,
    user: { uid: number; gid: number } | undefined,
  ) {
    this.root = root;
    this.#port = port;
    this.password = password;
    this.#settings = settings;
    this.#user = user;
  }

  /** initdb in a new temporary directory, then the server on a free loopback port. */
  static async start(options: PostgresServerOptions = {}): Promise<PostgresServer> {
    const problem = postgresProblem();
    if (problem !== null) throw new Error(problem);
    const user = Deno.uid() === 0 ? systemUser()! : undefined;
    const root = await Deno.makeTempDir({ dir: options.parent, prefix: "fabric-pg-" });
    try {
      if (user) await Deno.chown(root, user.uid, user.gid);
      await copyTemplate(join(root, "data"), user);
      const password = randomSecret();
      const server = new PostgresServer(root, 0, password, { ...TEST_SETTINGS, ...options.settings }, user);
      server.#netns = options.netns;
      // The port is free when we look and may be taken before PostgreSQL binds it: then another.
      for (let tries = 1;; tries++) {
        server.#port = await freePort();
        try {
          await server.resume();
          break;
        } catch (error) {
          if (tries === 5 || !/could not bind|already in use/i.test((error as Error).message)) throw error;
        }
      }
      await server.admin("postgres", async (sql) => {
        await sql.unsafe(`CREATE ROLE ${FABRIC_ROLE} LOGIN PASSWORD '${password}'`);
      });
      return server;
    } catch (error) {
      await Deno.remove(root, { recursive: true }).catch(() => {});
      throw error;
    }
  }

  get port(): number {
    return this.#port;
  }

  /** A URL for `database` as the fabric role, with its password. */
  url(database: string): string {
    return `postgres://${FABRIC_ROLE}:${this.password}@127.0.0.1:${this.#port}/${database}`;
  }

  /** A new, empty database owned by the fabric role: its URL. */
  async createDatabase(): Promise<string> {
    const name = `test_${++this.#databases}`;
    await this.admin("postgres", (sql) => sql.unsafe(`CREATE DATABASE ${name} OWNER ${FABRIC_ROLE}`));
    return this.url(name);
  }

  /** SQL as the superuser over the unix socket, for a test that looks into a database behind fabric's back. */
  async admin<T>(database: string, body: (sql: postgres.Sql) => Promise<T>): Promise<T> {
    const sql = postgres({
      host: this.root,
      port: this.#port,
      user: SYSTEM_USER,
      database,
      onnotice: () => {},
      max: 1,
    });
    try {
      return await body(sql);
    } finally {
      await sql.end({ timeout: 5 });
    }
  }

  get running(): boolean {
    return this.#process !== null;
  }

  /** Start the server on its data directory and port (again, after `pause`). */
  async resume(): Promise<void> {
    if (this.#process) return;
    const args = ["-D", join(this.root, "data"), "-p", String(this.#port), "-k", this.root];
    const settings = { listen_addresses: "127.0.0.1", ...this.#settings };
    for (const [name, value] of Object.entries(settings)) args.push("-c", `${name}=${value}`);
    const server = ["/bin/sh", "-c", WATCHDOG, "sh", join(POSTGRES_BIN, "postgres"), ...args];
    // Into a namespace as root (setns needs it), then as the server's user.
    const user = this.#user;
    const argv = this.#netns
      ? [
        ...["ip", "netns", "exec", this.#netns],
        ...(user ? ["setpriv", `--reuid=${user.uid}`, `--regid=${user.gid}`, "--clear-groups", "--"] : []),
        ...server,
      ]
      : server;
    const process = new ServerProcess("postgres", argv[0], argv.slice(1), {
      stdin: "piped",
      uid: this.#netns ? undefined : user?.uid,
      gid: this.#netns ? undefined : user?.gid,
      cwd: this.root,
    });
    try {
      await process.waitForOutput(/database system is ready to accept connections/, START_TIMEOUT_MS);
    } catch (error) {
      await this.#end(process);
      throw error;
    }
    this.#process = process;
  }

  /** Stop the server (a fast shutdown: connections are closed), keeping its data for `resume`. */
  async pause(): Promise<void> {
    const process = this.#process;
    if (!process) return;
    this.#process = null;
    await this.#end(process);
  }

  /** Close its stdin (the shell stops PostgreSQL); if that takes too long, kill both. */
  async #end(process: ServerProcess): Promise<void> {
    await process.close();
    const timer = setTimeout(() => {
      this.#killServer();
      process.kill("SIGKILL");
    }, 20_000);
    try {
      await process.exited;
    } finally {
      clearTimeout(timer);
    }
  }

  /** SIGKILL to the postmaster named in its pid file (it would outlive a killed shell). */
  #killServer(): void {
    try {
      const pid = Number(Deno.readTextFileSync(join(this.root, "data", "postmaster.pid")).split("\n")[0]);
      if (pid > 0) Deno.kill(pid, "SIGKILL");
    } catch { /* not running */ }
  }

  describe(): string {
    return this.#process?.describe() ?? "(postgres is not running)";
  }

  /** Stop the server and remove its directory. */
  async stop(): Promise<void> {
    await this.pause();
    await Deno.remove(this.root, { recursive: true }).catch(() => {});
  }
}

const INITDB_ARGS = [
  "-U",
  SYSTEM_USER,
  "--auth-local=trust",
  "--auth-host=scram-sha-256",
  "--encoding=UTF8",
  "--locale=C.UTF-8",
  "--no-sync",
  "--no-instructions",
];
/**
 * initdb takes seconds of CPU (8 s on a loaded 2-core machine); a copy of its result, a fraction
 * of one. The first server on a checkout makes the template, named after initdb's arguments.
 */
const TEMPLATE = join(REPO, ".tmp", `postgres-template-${await digest(POSTGRES_BIN + INITDB_ARGS.join(" "))}`);

/** A fresh data directory at `data`: a copy of the template, made first if there is none. */
async function copyTemplate(data: string, user: { uid: number; gid: number } | undefined): Promise<void> {
  if (!(await exists(join(TEMPLATE, "PG_VERSION")))) await makeTemplate(user);
  await run("cp", ["-a", TEMPLATE, data]);
}

async function makeTemplate(user: { uid: number; gid: number } | undefined): Promise<void> {
  const scratch = await Deno.makeTempDir({ prefix: "fabric-initdb-" });
  try {
    if (user) await Deno.chown(scratch, user.uid, user.gid);
    const initdb = await new Deno.Command(join(POSTGRES_BIN, "initdb"), {
      args: ["-D", join(scratch, "data"), ...INITDB_ARGS],
      uid: user?.uid,
      gid: user?.gid,
      stdout: "piped",
      stderr: "piped",
    }).output();
    if (!initdb.success) {
      throw new Error(`initdb failed (${initdb.code}): ${new TextDecoder().decode(initdb.stderr)}`);
    }
    // Copied in beside the template's place, then renamed: parallel test files never see half of one.
    await Deno.mkdir(join(REPO, ".tmp"), { recursive: true });
    const partial = `${TEMPLATE}.${crypto.randomUUID()}`;
    await run("cp", ["-a", join(scratch, "data"), partial]);
    await Deno.rename(partial, TEMPLATE).catch(async () => {
      await Deno.remove(partial, { recursive: true }); // another file's template won
    });
  } finally {
    await Deno.remove(scratch, { recursive: true }).catch(() => {});
  }
}

async function run(command: string, args: string[]): Promise<void> {
  const result = await new Deno.Command(command, { args, stdout: "null", stderr: "piped" }).output();
  if (!result.success) {
    throw new Error(`${command} ${args.join(" ")} failed: ${new TextDecoder().decode(result.stderr)}`);
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

async function digest(text: string): Promise<string> {
  const hash = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return Array.from(new Uint8Array(hash).slice(0, 6), (b) => b.toString(16).padStart(2, "0")).join("");
}

/** A port nothing listens on now (PostgreSQL cannot be told to take any free one, as port 0 would). */
async function freePort(): Promise<number> {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  await Promise.resolve();
  return port;
}

function randomSecret(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(18));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}
