import assert from "node:assert/strict";
import { repoKind } from "./git_url.ts";

Deno.test("a repository is read as git reads it: network URLs, scp-like ssh, and absolute paths as local", () => {
  const cases: Array<[string, string, string?]> = [
    ["https://github.com/org/repo.git", "https"],
    ["https://user:token@example.com:8443/r.git", "https"],
    ["http://127.0.0.1:8080/r.git", "http"],
    ["ssh://git@example.com/org/repo.git", "ssh"],
    ["git+ssh://example.com/r.git", "ssh"],
    ["ssh+git://example.com/r.git", "ssh"],
    ["git@github.com:org/repo.git", "ssh"],
    ["[::1]:repo.git", "ssh"],
    ["git://example.com/r.git", "git"],
    ["/srv/private.git", "local", "/srv/private.git"],
    ["/srv/odd:name.git", "local", "/srv/odd:name.git"],
    ["file:///srv/private.git", "local", "/srv/private.git"],
    ["file:///srv/%70rivate.git", "local", "/srv/private.git"],
  ];
  for (const [repo, transport, path] of cases) {
    assert.deepEqual(repoKind(repo), { ok: true, transport, ...(path ? { path } : {}) }, repo);
  }
});

Deno.test("what no agent may use is refused with the reason: helpers, other transports, options, relative paths", () => {
  const cases: Array<[string, RegExp]> = [
    ["ext::sh -c touch% /tmp/pwned", /remote helper "ext"/],
    ["fd::3", /remote helper "fd"/],
    ["file::/srv/private.git", /remote helper "file"/],
    ["testgit::/srv/r.git", /remote helper "testgit"/],
    ["ftp://example.com/r.git", /transport "ftp"/],
    ["HTTPS://example.com/r.git", /transport "HTTPS"/],
    ["-uhelp", /starts with '-'/],
    ["--upload-pack=touch /tmp/pwned", /starts with '-'/],
    ["ssh://-oProxyCommand=touch%20pwned/x", /starts with '-'/],
    ["ssh://-oProxyCommand=x@host/x", /starts with '-'/],
    ["-oProxyCommand=x:repo", /starts with '-'/],
    ["host:-repo", /path that starts with '-'/],
    ["ssh://git:pw@example.com/r.git", /password/],
    ["git://user:pw@example.com/r.git", /password/],
    ["https:///r.git", /has no host/],
    [":repo", /no host/],
    ["repo.git", /absolute path/],
    ["./repo:x", /absolute path/],
    ["file://relative/r.git", /absolute path/],
    ["/srv/../etc/r.git", /'\.\.'/],
    ["file:///srv/%2e%2e/r.git", /'\.\.'/],
    ["file:///srv/%ZZ.git", /percent-escape/],
    ["https://example.com/r.git\nx", /control character/],
  ];
  for (const [repo, reason] of cases) {
    const kind = repoKind(repo);
    assert.ok(!kind.ok, `${repo} was allowed`);
    assert.match(kind.reason, reason, repo);
  }
});
