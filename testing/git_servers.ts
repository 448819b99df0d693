/**
 * Real git servers on loopback for git_test.ts: `git daemon`, and `git http-backend` behind a Deno
 * HTTP server that demands basic auth and records what it served. Only tests import this file.
 */
import { join } from "node:path";

const GIT = "/usr/bin/git";

/** The same git for fixtures whatever the machine's configuration, and never a wrapper on PATH. */
function fixtureEnv(home: string): Record<string, string> {
  return {
    PATH: "/usr/bin:/bin",
    HOME: home,
    LC_ALL: "C",
    GIT_CONFIG_NOSYSTEM: "1",
    GIT_CONFIG_GLOBAL: "/dev/null",
    GIT_AUTHOR_NAME: "Fabric Test",
    GIT_AUTHOR_EMAIL: "test@fabric.invalid",
    GIT_COMMITTER_NAME: "Fabric Test",
    GIT_COMMITTER_EMAIL: "test@fabric.invalid",
  };
}

/** `git ARGS` for fixtures; returns trimmed stdout and throws with stderr on failure. */
export async function fixtureGit(args: string[], cwd: string): Promise<string> {
  const output = await new Deno.Command(GIT, { args, cwd, env: fixtureEnv(cwd), clearEnv: true, stdin: "null" })
    .output();
  const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes).trim();
  if (output.code !== 0) throw new Error(`git ${args.join(" ")} failed: ${text(output.stderr)}`);
  return text(output.stdout);
}

/** A bare repository `<root>/<name>.git` and a working clone that pushes commits to it. */
export class Origin {
  readonly bare: string;
  readonly #work: string;

  private constructor(bare: string, work: string) {
    this.bare = bare;
    this.#work = work;
  }

  static async create(root: string, name: string): Promise<Origin> {
    const bare = join(root, `${name}.git`);
    const work = join(root, `${name}.work`);
    await fixtureGit(["init", "--quiet", "--bare", "--initial-branch=main", bare], root);
    await fixtureGit(["init", "--quiet", "--initial-branch=main", work], root);
    await fixtureGit(["remote", "add", "origin", bare], work);
    return new Origin(bare, work);
  }

  /** Writes `files`, commits them on main, pushes, and returns the commit's sha. */
  async commit(files: Record<string, string>, message: string): Promise<string> {
    for (const [path, content] of Object.entries(files)) await Deno.writeTextFile(join(this.#work, path), content);
    await fixtureGit(["add", "--all"], this.#work);
    await fixtureGit(["commit", "--quiet", "-m", message], this.#work);
    await fixtureGit(["push", "--quiet", "origin", "main"], this.#work);
    return await fixtureGit(["rev-parse", "HEAD"], this.#work);
  }

  /** An annotated tag on `sha`, pushed. */
  async tag(name: string, sha: string): Promise<void> {
    await fixtureGit(["tag", "-a", "-m", name, name, sha], this.#work);
    await fixtureGit(["push", "--quiet", "origin", name], this.#work);
  }
}

/** A port nothing listens on (a moment ago). */
export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

export interface Daemon {
  url(name: string): string;
  stop(): Promise<void>;
}

/** `git daemon` serving every repository under `root` on a loopback port, once it accepts. */
export async function startDaemon(root: string): Promise<Daemon> {
  const port = freePort();
  const child = new Deno.Command(GIT, {
    args: ["daemon", "--listen=127.0.0.1", `--port=${port}`, "--export-all", `--base-path=${root}`, "--reuseaddr"],
    env: fixtureEnv(root),
    clearEnv: true,
    stdin: "null",
    stdout: "null",
    stderr: "null",
    detached: true, // its per-connection children share its group and are stopped with it
  }).spawn();
  const stop = async () => {
    try {
      Deno.kill(-child.pid, "SIGTERM");
    } catch { /* already gone */ }
    await child.status;
  };
  const deadline = Date.now() + 10_000;
  while (true) {
    try {
      (await Deno.connect({ hostname: "127.0.0.1", port })).close();
      break;
    } catch (error) {
      if (Date.now() > deadline) {
        await stop();
        throw new Error(`git daemon did not accept on port ${port}: ${error}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }
  return { url: (name) => `git://127.0.0.1:${port}/${name}.git`, stop };
}

export interface HttpStats {
  requests: number;
  /** Requests refused for missing or wrong credentials. */
  unauthorized: number;
  /** upload-pack requests that asked for objects (protocol v2 `command=fetch`), not only for refs. */
  fetches: number;
  /** Every process's argv, read while a git client waited for an upload-pack answer. */
  argvSeen: string[];
}

export interface HttpServer {
  stats: HttpStats;
  /** The repository's URL, with `userinfo` (`user:password`) in it if given. */
  url(name: string, userinfo?: string): string;
  stop(): Promise<void>;
}

/** `git http-backend` over loopback HTTP for the repositories under `root`, behind basic auth. */
export function startHttpServer(root: string, credentials: { username: string; password: string }): HttpServer {
  const expected = `Basic ${btoa(`${credentials.username}:${credentials.password}`)}`;
  const stats: HttpStats = { requests: 0, unauthorized: 0, fetches: 0, argvSeen: [] };
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (request) => {
    stats.requests++;
    if (request.headers.get("authorization") !== expected) {
      stats.unauthorized++;
      await request.body?.cancel();
      return new Response("credentials needed\n", { status: 401, headers: { "WWW-Authenticate": 'Basic realm="t"' } });
    }
    const body = new Uint8Array(await request.arrayBuffer());
    const url = new URL(request.url);
    if (url.pathname.endsWith("/git-upload-pack")) {
      const gzip = request.headers.get("content-encoding") === "gzip";
      const text = new TextDecoder().decode(gzip ? await gunzip(body) : body);
      if (text.includes("command=fetch")) stats.fetches++;
      stats.argvSeen.push(...await everyArgv());
    }
    return await httpBackend(root, request, url, body);
  });
  return {
    stats,
    url: (name, userinfo) => `http://${userinfo ? `${userinfo}@` : ""}127.0.0.1:${server.addr.port}/${name}.git`,
    stop: () => server.shutdown(),
  };
}

/** One CGI request to `git http-backend`. */
async function httpBackend(root: string, request: Request, url: URL, body: Uint8Array): Promise<Response> {
  const child = new Deno.Command(GIT, {
    args: ["http-backend"],
    env: {
      ...fixtureEnv(root),
      GIT_PROJECT_ROOT: root,
      GIT_HTTP_EXPORT_ALL: "1",
      REQUEST_METHOD: request.method,
      PATH_INFO: url.pathname,
      QUERY_STRING: url.search.slice(1),
      CONTENT_TYPE: request.headers.get("content-type") ?? "",
      CONTENT_LENGTH: String(body.length),
      HTTP_CONTENT_ENCODING: request.headers.get("content-encoding") ?? "",
      GIT_PROTOCOL: request.headers.get("git-protocol") ?? "",
      REMOTE_USER: "test",
      REMOTE_ADDR: "127.0.0.1",
    },
    clearEnv: true,
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(body);
  await writer.close();
  const output = await child.output();
  const raw = output.stdout;
  const end = findHeaderEnd(raw);
  const headers = new Headers();
  let status = 200;
  for (const line of new TextDecoder().decode(raw.slice(0, end.at)).split(/\r?\n/)) {
    const colon = line.indexOf(":");
    if (colon < 0) continue;
    const [name, value] = [line.slice(0, colon).trim(), line.slice(colon + 1).trim()];
    if (name.toLowerCase() === "status") status = Number(value.split(" ")[0]);
    else headers.append(name, value);
  }
  return new Response(raw.slice(end.at + end.length), { status, headers });
}

function findHeaderEnd(raw: Uint8Array): { at: number; length: number } {
  for (let i = 0; i < raw.length - 1; i++) {
    if (raw[i] === 13 && raw[i + 1] === 10 && raw[i + 2] === 13 && raw[i + 3] === 10) return { at: i, length: 4 };
    if (raw[i] === 10 && raw[i + 1] === 10) return { at: i, length: 2 };
  }
  return { at: raw.length, length: 0 };
}

async function gunzip(bytes: Uint8Array): Promise<Uint8Array> {
  const stream = new Blob([bytes as BlobPart]).stream().pipeThrough(new DecompressionStream("gzip"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/** The argv of every process on the machine, as /proc/PID/cmdline shows it to anyone. */
export async function everyArgv(): Promise<string[]> {
  const argvs: string[] = [];
  for await (const entry of Deno.readDir("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    try {
      const bytes = await Deno.readFile(`/proc/${entry.name}/cmdline`);
      if (bytes.length > 0) argvs.push(new TextDecoder().decode(bytes).replaceAll("\0", " ").trim());
    } catch {
      // The process ended while we looked.
    }
  }
  return argvs;
}

export interface HangingServer {
  /** A git:// URL of this server. */
  url: string;
  /** Connections accepted so far. */
  readonly accepted: number;
  /** Connections whose client has not closed them yet: a git still waiting. */
  readonly open: number;
  stop(): Promise<void>;
}

/** A git:// server on loopback that accepts connections and never answers: a fetch of it hangs until killed. */
export function startHangingServer(): HangingServer {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  const connections = new Set<Deno.Conn>();
  let accepted = 0;
  const waiting: Promise<void>[] = [];
  // Reads (and drops) what a client sends until it closes its end: then the client is gone.
  const hold = async (connection: Deno.Conn) => {
    const buffer = new Uint8Array(4096);
    try {
      while (await connection.read(buffer) !== null) { /* never answered */ }
    } catch { /* closed by stop() */ }
    connections.delete(connection);
    try {
      connection.close();
    } catch { /* closed by stop() */ }
  };
  const accepting = (async () => {
    try {
      for await (const connection of listener) {
        accepted++;
        connections.add(connection);
        waiting.push(hold(connection));
      }
    } catch { /* closed */ }
  })();
  return {
    url: `git://127.0.0.1:${port}/hangs.git`,
    get accepted() {
      return accepted;
    },
    get open() {
      return connections.size;
    },
    async stop() {
      listener.close();
      await accepting;
      for (const connection of connections) {
        try {
          connection.close();
        } catch { /* already closed */ }
      }
      await Promise.all(waiting);
    },
  };
}
