/**
 * Which transport git would use for a git task's `repo`, read the way git reads it (transport.c's
 * `transport_get` and connect.c's `url_is_local_not_ssh`), so that what fabric allows is what git
 * does. Network transports are open to every job; a repository on the agent's own disk only where
 * the agent allows it (`--allow-local-git`); remote helpers (`ext::`, which runs a command) never.
 */

/**
 * `http` is a network transport like the others: it reaches nothing on the agent's disk that
 * `https` could not. Its only extra risk is to the job's own credentials, sent in clear.
 */
export type GitTransport = "https" | "http" | "ssh" | "git" | "local";

export type RepoKind =
  | { ok: true; transport: GitTransport; /** For "local": the path git opens, percent-decoded. */ path?: string }
  | { ok: false; reason: string };

const SCHEMES: Record<string, GitTransport> = {
  "https": "https",
  "http": "http",
  "ssh": "ssh",
  "git+ssh": "ssh",
  "ssh+git": "ssh",
  "git": "git",
  "file": "local",
};

/** What git reads as `<helper>::<address>` (a remote helper) and as `<scheme>://`. */
const HELPER = /^([A-Za-z0-9][A-Za-z0-9+.-]*)::/;
const SCHEME = /^([A-Za-z0-9][A-Za-z0-9+.-]*):\/\//;

/** The transport git would use for `repo`, or why no job may use it (whatever the agent allows). */
export function repoKind(repo: string): RepoKind {
  if ([...repo].some((c) => c < " " || c === "\x7f")) return { ok: false, reason: "holds a control character" };
  if (repo.startsWith("-")) return { ok: false, reason: "starts with '-', which git would read as an option" };
  const helper = repo.match(HELPER);
  if (helper) {
    return {
      ok: false,
      reason: `names the git remote helper "${helper[1]}" ("${helper[1]}::"), which can run commands on the agent; ` +
        "use an https, ssh or git URL",
    };
  }
  const scheme = repo.match(SCHEME);
  if (scheme) {
    const transport = SCHEMES[scheme[1]];
    if (!transport) {
      return { ok: false, reason: `uses the transport "${scheme[1]}"; use https, http, ssh or git (or file)` };
    }
    const rest = repo.slice(scheme[0].length);
    if (transport === "local") return localPath(rest, `file://${rest}`);
    return checkNetwork(transport, rest);
  }
  // No scheme: a path (no colon, or a slash before the first colon), else scp-like `[user@]host:path`.
  const colon = repo.indexOf(":");
  const slash = repo.indexOf("/");
  if (colon < 0 || (slash >= 0 && slash < colon)) return localPath(repo, repo);
  return checkScpLike(repo.slice(0, colon), repo.slice(colon + 1));
}

function localPath(path: string, shown: string): RepoKind {
  let decoded = path;
  if (shown.startsWith("file://")) {
    // git percent-decodes every URL it parses (connect.c); a path that cannot be decoded is refused.
    try {
      decoded = decodeURIComponent(path);
    } catch {
      return { ok: false, reason: "has a malformed percent-escape" };
    }
  }
  if (decoded.split("/").includes("..")) return { ok: false, reason: "holds '..'; give the path itself" };
  if (!decoded.startsWith("/")) {
    return {
      ok: false,
      reason: "is neither a URL (https://, ssh://, git://, host:path) nor an absolute path (a relative path would " +
        "be read from the agent's working directory)",
    };
  }
  return { ok: true, transport: "local", path: decoded };
}

// ssh would take a host, user or path that starts with '-' as an option (CVE-2017-1000117); git
// refuses these too, fabric says so before anything runs.
function checkNetwork(transport: GitTransport, rest: string): RepoKind {
  const authority = rest.match(/^[^/?#]*/)![0];
  const at = authority.lastIndexOf("@");
  const userinfo = at < 0 ? "" : authority.slice(0, at);
  const host = authority.slice(at + 1);
  if (host === "") return { ok: false, reason: "has no host" };
  if (authority.startsWith("-") || host.startsWith("-")) {
    return { ok: false, reason: "has a user or host that starts with '-', which ssh would read as an option" };
  }
  if (transport !== "https" && transport !== "http" && userinfo.includes(":")) {
    return { ok: false, reason: "holds a password, which fabric supports only in http(s) URLs" };
  }
  return { ok: true, transport };
}

function checkScpLike(authority: string, path: string): RepoKind {
  const host = authority.slice(authority.lastIndexOf("@") + 1);
  if (host === "") return { ok: false, reason: "has no host before ':'" };
  if (authority.startsWith("-") || host.startsWith("-")) {
    return { ok: false, reason: "has a user or host that starts with '-', which ssh would read as an option" };
  }
  if (path.startsWith("-")) return { ok: false, reason: "has a path that starts with '-'" };
  return { ok: true, transport: "ssh" };
}

/**
 * Why `ref` is not a ref a task may name (git check-ref-format's rules, plus a leading '-' or '+'),
 * or null. The ref ends up in a refspec (`+REF:refs/fabric/wanted`): a colon, a glob or a leading
 * dash would change what git does, not just what it fetches.
 */
export function refProblem(ref: string): string | null {
  const forbidden = [...ref].some((c) => c <= " " || c === "\x7f" || "~^:?*[\\".includes(c));
  const valid = ref !== "" && !forbidden && !/^[-/+]|\/$|\.\.|@\{|\/\/|\.lock(\/|$)|\.$/.test(ref);
  return valid ? null : "is not a valid git ref (a branch, a tag, a full ref name, HEAD or a commit sha)";
}
