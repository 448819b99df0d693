import assert from "node:assert/strict";
import { FakeClock } from "../../testing/fake_clock.ts";
import { RetryTimer } from "./retry_timer.ts";

function setup() {
  const clock = new FakeClock(0);
  const released: string[][] = [];
  const timer: RetryTimer<string> = new RetryTimer({ clock, onDue: () => released.push(timer.takeDue()) });
  return { clock, timer, released };
}

Deno.test("retry timer: one timer, for the earliest; each item comes out when its time has come", async () => {
  const { clock, timer, released } = setup();
  timer.add("late", 5000);
  timer.add("early", 2000);
  timer.add("middle", 3000);
  assert.equal(clock.timers, 1, "one timer at a time");
  assert.equal(clock.nextIn(), 2000);
  await clock.tick(1999);
  assert.deepEqual(released, []);
  await clock.tick(1001);
  assert.deepEqual(released, [["early"], ["middle"]]);
  await clock.tick(7000);
  assert.deepEqual(released, [["early"], ["middle"], ["late"]]);
  assert.equal(timer.size, 0);
  assert.equal(clock.timers, 0, "no timer left once nothing is held");
});

Deno.test("retry timer: a deleted item never comes out, and an early call hands out only what is due", async () => {
  const { clock, timer, released } = setup();
  timer.add("kept", 1000);
  timer.add("ended", 1000);
  timer.add("later", 9000);
  timer.delete("ended");
  await clock.tick(500);
  assert.deepEqual(timer.takeDue(), [], "nothing is due yet");
  await clock.tick(500);
  assert.deepEqual(released, [["kept"]]);
});

Deno.test("retry timer: a wait longer than setTimeout can hold is taken in parts, not fired at once", async () => {
  const { clock, timer, released } = setup();
  const thirtyDays = 30 * 24 * 3600 * 1000;
  timer.add("far", thirtyDays);
  assert.ok(clock.nextIn()! <= 2 ** 31 - 1);
  await clock.tick(2 ** 31);
  assert.deepEqual(released, [[]], "woken early, with nothing due, it sets itself again");
  await clock.tick(thirtyDays - 2 ** 31);
  assert.deepEqual(released, [[], ["far"]]);
});

Deno.test("retry timer: stop clears the timer and keeps what is held", async () => {
  const { clock, timer, released } = setup();
  timer.add("x", 1000);
  timer.stop();
  await clock.tick(5000);
  assert.deepEqual(released, []);
  assert.deepEqual(timer.takeDue(), ["x"]);
});
