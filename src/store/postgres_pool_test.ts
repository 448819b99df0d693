import assert from "node:assert/strict";
import { unixSocketDir } from "./postgres_pool.ts";

Deno.test("a URL's ?host=/DIR names a unix socket's directory, taken out of the URL; any other URL is left alone", () => {
  assert.deepEqual(unixSocketDir("postgres://fabric@localhost:5433/fabric?host=/var/run/postgresql"), {
    url: "postgres://fabric@localhost:5433/fabric",
    dir: "/var/run/postgresql",
  });
  // Percent-encoded, and beside other settings, which stay.
  assert.deepEqual(unixSocketDir("postgresql://fabric@localhost/fabric?sslmode=disable&host=%2Frun%2Fpg"), {
    url: "postgresql://fabric@localhost/fabric?sslmode=disable",
    dir: "/run/pg",
  });
  // libpq's forms with no host before the path, with and without a port.
  assert.deepEqual(unixSocketDir("postgres://fabric@/fabric?host=/run/pg"), {
    url: "postgres://fabric@localhost/fabric",
    dir: "/run/pg",
  });
  assert.deepEqual(unixSocketDir("postgres://fabric@:5433/fabric?host=/run/pg"), {
    url: "postgres://fabric@localhost:5433/fabric",
    dir: "/run/pg",
  });
  assert.deepEqual(unixSocketDir("postgresql:///fabric?host=/run/pg"), { url: "postgresql:///fabric", dir: "/run/pg" });
  assert.equal(unixSocketDir("postgres://fabric@db.example.com/fabric"), null);
  assert.equal(unixSocketDir("postgres://fabric@db.example.com/fabric?host=db2.example.com"), null, "not a directory");
  assert.equal(unixSocketDir("not a url"), null);
});
