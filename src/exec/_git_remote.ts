/**
 * A repository URL split into what git may see on its command line (no credentials) and the
 * credentials, which reach git only through its environment and are scrubbed from everything shown.
 */
import { type GitTransport, repoKind } from "../protocol/mod.ts";

export interface Credentials {
  username: string;
  password: string;
}

export interface Remote {
  /** The URL without credentials: what git's argv, the mirror's config and the mirror's name use. */
  url: string;
  /** The URL as users may see it in logs and errors. */
  display: string;
  /** Only for http(s) URLs; other schemes keep a user name (ssh's `git@`) and may not carry a password. */
  credentials: Credentials | null;
  transport: GitTransport;
  /** For a repository on this machine: the path git opens. */
  localPath: string | null;
}

interface UrlParts {
  scheme: string;
  userinfo: string;
  rest: string;
}

// Split by hand rather than with URL(): WHATWG parsing would normalise git URLs (git://, ssh://)
// and cannot read scp-like `git@host:path` at all, which must pass through unchanged.
function splitUrl(url: string): UrlParts | null {
  const match = url.match(/^([a-z][a-z0-9+.-]*:\/\/)([^/?#]*)(.*)$/is);
  if (!match) return null;
  const at = match[2].lastIndexOf("@");
  if (at < 0) return { scheme: match[1], userinfo: "", rest: match[2] + match[3] };
  return { scheme: match[1], userinfo: match[2].slice(0, at), rest: match[2].slice(at + 1) + match[3] };
}

function isHttp(scheme: string): boolean {
  return /^https?:\/\/$/i.test(scheme);
}

function decode(part: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    return part;
  }
}

/**
 * The URL with its credentials replaced by `***`. For http(s) the whole user part goes, since a
 * token is often passed as the user name (`https://TOKEN@host/...`).
 */
export function redactUrl(url: string): string {
  const parts = splitUrl(url);
  if (!parts || parts.userinfo === "") return url;
  const colon = parts.userinfo.indexOf(":");
  if (!isHttp(parts.scheme) && colon < 0) return url;
  const kept = isHttp(parts.scheme) ? "***" : `${parts.userinfo.slice(0, colon)}:***`;
  return `${parts.scheme}${kept}@${parts.rest}`;
}

/**
 * Throws TypeError for what no job may use (repoKind): a remote helper, an unknown scheme, an
 * option in disguise, or a password in a non-http URL (git would put it on an ssh command line).
 */
export function parseRemote(url: string): Remote {
  const kind = repoKind(url);
  if (!kind.ok) throw new TypeError(`"${redactUrl(url)}" ${kind.reason}`);
  const plain = { url, display: url, credentials: null, transport: kind.transport, localPath: kind.path ?? null };
  const parts = splitUrl(url);
  if (!parts || parts.userinfo === "" || !isHttp(parts.scheme)) return plain;
  const colon = parts.userinfo.indexOf(":");
  const username = decode(colon < 0 ? parts.userinfo : parts.userinfo.slice(0, colon));
  const password = colon < 0 ? "" : decode(parts.userinfo.slice(colon + 1));
  return { ...plain, url: parts.scheme + parts.rest, display: redactUrl(url), credentials: { username, password } };
}

function base64(text: string): string {
  return btoa(String.fromCharCode(...new TextEncoder().encode(text)));
}

/** Every form in which the remote's credentials could show up in git's output. */
function secretsOf(remote: Remote): string[] {
  const { credentials } = remote;
  if (!credentials) return [];
  const { username, password } = credentials;
  // A user name alone is a token (`https://TOKEN@host/...`); beside a password it is just a name.
  const secret = password === "" ? username : password;
  const forms = [secret, encodeURIComponent(secret), base64(`${username}:${password}`)];
  return [...new Set(forms.filter((form) => form !== ""))].sort((a, b) => b.length - a.length);
}

/** A function that removes the remote's credentials, and any URL's user part, from a text. */
export function scrubberFor(remote: Remote): (text: string) => string {
  const secrets = secretsOf(remote);
  return (text) => {
    let scrubbed = text.replace(/([a-z][a-z0-9+.-]*:\/\/)[^\s/?#@'"]*@/gi, (_, scheme) => `${scheme}***@`);
    for (const secret of secrets) scrubbed = scrubbed.replaceAll(secret, "***");
    return scrubbed;
  };
}

/** Inherited variables that would point git at another repository or configuration than ours. */
const DROPPED = [
  "GIT_DIR",
  "GIT_WORK_TREE",
  "GIT_INDEX_FILE",
  "GIT_OBJECT_DIRECTORY",
  "GIT_ALTERNATE_OBJECT_DIRECTORIES",
  "GIT_COMMON_DIR",
  "GIT_NAMESPACE",
  "GIT_CONFIG_PARAMETERS",
  "GIT_ASKPASS",
  "SSH_ASKPASS",
  "GIT_ALLOW_PROTOCOL",
  "GIT_PROTOCOL_FROM_USER",
];

/** What git may speak: the network transports, never a remote helper (`ext::`), a local path only if allowed. */
const NETWORK_PROTOCOLS = "https:http:ssh:git";

/**
 * The environment of every git command for `remote`: the agent's own (for HOME, PATH, proxies and
 * the user's ssh setup) with prompts made impossible, and the credentials, if any, as an http
 * Authorization header given through GIT_CONFIG_* variables, which never show in argv.
 *
 * GIT_ALLOW_PROTOCOL is git's own allow-list: it overrides every `protocol.*.allow` setting and binds
 * all that git reaches on the job's behalf, not just the URL fabric checked: a redirect (curl is
 * limited to it too), a submodule, or an `insteadOf` rewrite in the agent's configuration. The
 * `file` transport (a path, `file://`) is on it only when the agent allows local repositories.
 */
export function gitEnvironment(
  remote: Remote,
  inherited: Record<string, string>,
  options: { allowLocal?: boolean } = {},
): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(inherited)) {
    if (DROPPED.includes(key) || /^GIT_CONFIG_(COUNT|KEY_\d+|VALUE_\d+)$/.test(key)) continue;
    env[key] = value;
  }
  Object.assign(env, {
    GIT_TERMINAL_PROMPT: "0",
    // Set but empty: git then neither runs core.askPass nor falls back to SSH_ASKPASS.
    GIT_ASKPASS: "",
    SSH_ASKPASS_REQUIRE: "never",
    // Messages in English, so that failures can be told apart.
    LC_ALL: "C",
    GIT_ALLOW_PROTOCOL: options.allowLocal ? `${NETWORK_PROTOCOLS}:file` : NETWORK_PROTOCOLS,
  });
  // A detached `gc --auto` would outlive the command, its timeout and the mirror's lock.
  const config: Array<[string, string]> = [["gc.autoDetach", "false"]];
  if (remote.credentials) {
    const { username, password } = remote.credentials;
    const origin = splitUrl(remote.url)!;
    const host = origin.rest.match(/^[^/?#]*/)![0];
    // Scoped to the repository's host, so a redirect elsewhere does not carry it. An empty helper
    // list keeps credential helpers from storing (or substituting) the credentials.
    config.push(
      [`http.${origin.scheme}${host}/.extraHeader`, `Authorization: Basic ${base64(`${username}:${password}`)}`],
      ["credential.helper", ""],
    );
  }
  env.GIT_CONFIG_COUNT = String(config.length);
  config.forEach(([key, value], i) => {
    env[`GIT_CONFIG_KEY_${i}`] = key;
    env[`GIT_CONFIG_VALUE_${i}`] = value;
  });
  return env;
}
