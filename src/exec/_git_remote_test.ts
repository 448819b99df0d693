import assert from "node:assert/strict";
import { gitEnvironment, parseRemote, redactUrl, scrubberFor } from "./_git_remote.ts";
import { classify } from "./_git_run.ts";

Deno.test("redactUrl hides an http URL's whole user part and an ssh password, and leaves the rest alone", () => {
  assert.equal(redactUrl("https://alice:s3cret@example.com/org/repo.git"), "https://***@example.com/org/repo.git");
  assert.equal(redactUrl("https://ghp_TOKEN@example.com/org/repo.git"), "https://***@example.com/org/repo.git");
  assert.equal(redactUrl("https://a:p@ss@example.com/x"), "https://***@example.com/x");
  assert.equal(redactUrl("ssh://git@example.com/org/repo.git"), "ssh://git@example.com/org/repo.git");
  assert.equal(redactUrl("ssh://git:pw@example.com/repo.git"), "ssh://git:***@example.com/repo.git");
  assert.equal(redactUrl("git@example.com:org/repo.git"), "git@example.com:org/repo.git");
  assert.equal(redactUrl("https://example.com/a@b"), "https://example.com/a@b");
  assert.equal(redactUrl("/srv/git/repo.git"), "/srv/git/repo.git");
});

Deno.test("credentials are taken out of the URL, percent-decoded, and refused where git would put them in argv", () => {
  const remote = parseRemote("https://al%40ice:p%3Ass@example.com:8443/repo.git");
  assert.equal(remote.url, "https://example.com:8443/repo.git");
  assert.equal(remote.display, "https://***@example.com:8443/repo.git");
  assert.deepEqual(remote.credentials, { username: "al@ice", password: "p:ss" });
  assert.deepEqual(parseRemote("https://TOKEN@example.com/r").credentials, { username: "TOKEN", password: "" });
  assert.equal(parseRemote("ssh://git@example.com/r").url, "ssh://git@example.com/r");
  assert.throws(() => parseRemote("ssh://git:pw@example.com/r"), TypeError);
});

Deno.test("git's output is scrubbed of the credentials in every form, and of any URL's user part", () => {
  const scrub = scrubberFor(parseRemote("https://alice:s3cr%2Ft@example.com/repo.git"));
  const text = "fatal: unable to access 'https://alice:s3cr%2Ft@example.com/': s3cr/t; " +
    `header ${btoa("alice:s3cr/t")}; other https://bob:pw@elsewhere/`;
  const scrubbed = scrub(text);
  for (const secret of ["s3cr/t", "s3cr%2Ft", btoa("alice:s3cr/t"), "bob:pw"]) assert.ok(!scrubbed.includes(secret));
  assert.match(scrubbed, /https:\/\/\*\*\*@example\.com/);
  const token = scrubberFor(parseRemote("https://ghp_TOKEN@example.com/repo.git"));
  assert.equal(token("token ghp_TOKEN refused"), "token *** refused");
});

Deno.test("a failure is told apart on git's own words, before a short password is scrubbed out of them", () => {
  const stderr = "fatal: couldn't find remote ref nope\n";
  assert.equal(classify(stderr).kind, "ref_not_found");
  assert.equal(
    scrubberFor(parseRemote("https://u:u@example.com/r"))(classify(stderr).line),
    "fatal: co***ldn't find remote ref nope",
  );
  assert.equal(
    classify("fatal: unable to connect to h:\nh[0: 1.2.3.4]: errno=Connection refused\n").line,
    "fatal: unable to connect to h: h[0: 1.2.3.4]: errno=Connection refused",
  );
  assert.equal(classify("fatal: Authentication failed for 'https://h/r/'").kind, "auth");
  assert.equal(classify("fatal: remote error: access denied or repository not exported: /x.git").kind, "unreachable");
  assert.equal(classify("fatal: unexpected line in packed-refs").kind, "failed");
});

Deno.test("git's environment disables every prompt and carries the credentials only as a scoped header", () => {
  const inherited = {
    PATH: "/usr/bin",
    HOME: "/home/a",
    GIT_DIR: "/elsewhere",
    GIT_CONFIG_COUNT: "1",
    SSH_ASKPASS: "x",
  };
  const env = gitEnvironment(parseRemote("https://alice:s3cret@example.com/repo.git"), inherited);
  assert.equal(env.GIT_TERMINAL_PROMPT, "0");
  assert.equal(env.GIT_ASKPASS, "");
  assert.equal(env.PATH, "/usr/bin");
  assert.equal(env.GIT_DIR, undefined);
  assert.equal(env.SSH_ASKPASS, undefined);
  const config = Object.fromEntries(
    Array.from(
      { length: Number(env.GIT_CONFIG_COUNT) },
      (_, i) => [env[`GIT_CONFIG_KEY_${i}`], env[`GIT_CONFIG_VALUE_${i}`]],
    ),
  );
  assert.equal(config["http.https://example.com/.extraHeader"], `Authorization: Basic ${btoa("alice:s3cret")}`);
  assert.equal(config["credential.helper"], "");
  assert.ok(!Object.values(env).some((value) => value.includes("s3cret")));
  assert.equal(gitEnvironment(parseRemote("git://example.com/r.git"), {}).GIT_CONFIG_COUNT, "1");
});

Deno.test("git may speak the network transports only, and the file transport only where local repositories are allowed", () => {
  const inherited = { GIT_ALLOW_PROTOCOL: "file:ext", GIT_PROTOCOL_FROM_USER: "1" };
  const env = gitEnvironment(parseRemote("https://example.com/r.git"), inherited);
  assert.equal(env.GIT_ALLOW_PROTOCOL, "https:http:ssh:git");
  assert.equal(env.GIT_PROTOCOL_FROM_USER, undefined);
  const local = gitEnvironment(parseRemote("/srv/r.git"), inherited, { allowLocal: true });
  assert.equal(local.GIT_ALLOW_PROTOCOL, "https:http:ssh:git:file");
  assert.throws(() => parseRemote("ext::sh -c x"), /remote helper "ext"/);
  assert.equal(parseRemote("file:///srv/%72.git").localPath, "/srv/r.git");
});
