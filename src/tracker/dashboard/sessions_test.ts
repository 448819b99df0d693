import assert from "node:assert/strict";
import { Sessions } from "./sessions.ts";

function clock() {
  const time = { now: 1_000_000 };
  return { time, now: () => time.now };
}

Deno.test("a session ends after its idle time and its longest life, however much it is used", () => {
  const { time, now } = clock();
  const sessions = new Sessions(now, { max: 10, idleMs: 1000, maxAgeMs: 5000 });
  const { id, session } = sessions.open("token");
  assert.equal(sessions.find(id), session);
  assert.equal(sessions.find("fabric-session-other"), null);
  for (let i = 0; i < 5; i++) {
    time.now += 999;
    assert.equal(sessions.find(id), session, "used within its idle time, it lives on");
  }
  time.now += 999;
  assert.equal(sessions.find(id), null, "past its longest life it ends, used or not");

  const idle = sessions.open("token");
  time.now += 1001;
  assert.equal(sessions.find(idle.id), null);
  assert.equal(sessions.size, 0);
});

Deno.test("sessions are bounded: a full table ends the one unused longest; a closed one is gone", () => {
  const { time, now } = clock();
  const sessions = new Sessions(now, { max: 3, idleMs: 60_000, maxAgeMs: 60_000 });
  const ids = [0, 1, 2].map(() => {
    time.now += 1;
    return sessions.open("token").id;
  });
  assert.ok(sessions.find(ids[0]), "the first is used again: the second is now unused longest");
  const fourth = sessions.open("token").id;
  assert.equal(sessions.size, 3);
  assert.equal(sessions.find(ids[1]), null);
  assert.ok(sessions.find(ids[0]) && sessions.find(ids[2]) && sessions.find(fourth));
  sessions.close(fourth);
  assert.equal(sessions.find(fourth), null);
  assert.notEqual(sessions.find(ids[0])!.csrf, sessions.find(ids[2])!.csrf, "each session has its own CSRF token");
});
