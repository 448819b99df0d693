import assert from "node:assert/strict";
import { RetryTimer, type Timers } from "./retry_timer.ts";

/** A clock and timers that move only when the test says so. */
function fakeTime() {
  let now = 0;
  let nextId = 1;
  const pending = new Map<number, { at: number; callback: () => void }>();
  const timers: Timers = {
    setTimeout(callback, ms) {
      pending.set(nextId, { at: now + ms, callback });
      return nextId++;
    },
    clearTimeout(id) {
      pending.delete(id as number);
    },
  };
  return {
    clock: { now: () => now },
    timers,
    pending,
    /** Move the clock to `to`, firing the timers due on the way, in order. */
    advance(to: number) {
      for (;;) {
        const next = [...pending].sort((a, b) => a[1].at - b[1].at)[0];
        if (!next || next[1].at > to) break;
        now = next[1].at;
        pending.delete(next[0]);
        next[1].callback();
      }
      now = to;
    },
  };
}

function setup() {
  const time = fakeTime();
  const released: string[][] = [];
  const timer: RetryTimer<string> = new RetryTimer({
    clock: time.clock,
    timers: time.timers,
    onDue: () => released.push(timer.takeDue()),
  });
  return { time, timer, released };
}

Deno.test("retry timer: one timer, for the earliest; each item comes out when its time has come", () => {
  const { time, timer, released } = setup();
  timer.add("late", 5000);
  timer.add("early", 2000);
  timer.add("middle", 3000);
  assert.equal(time.pending.size, 1, "one timer at a time");
  assert.deepEqual([...time.pending.values()].map((t) => t.at), [2000]);
  time.advance(1999);
  assert.deepEqual(released, []);
  time.advance(3000);
  assert.deepEqual(released, [["early"], ["middle"]]);
  time.advance(10_000);
  assert.deepEqual(released, [["early"], ["middle"], ["late"]]);
  assert.equal(timer.size, 0);
  assert.equal(time.pending.size, 0, "no timer left once nothing is held");
});

Deno.test("retry timer: a deleted item never comes out, and an early call hands out only what is due", () => {
  const { time, timer, released } = setup();
  timer.add("kept", 1000);
  timer.add("ended", 1000);
  timer.add("later", 9000);
  timer.delete("ended");
  time.advance(500);
  assert.deepEqual(timer.takeDue(), [], "nothing is due yet");
  time.advance(1000);
  assert.deepEqual(released, [["kept"]]);
});

Deno.test("retry timer: a wait longer than setTimeout can hold is taken in parts, not fired at once", () => {
  const { time, timer, released } = setup();
  const thirtyDays = 30 * 24 * 3600 * 1000;
  timer.add("far", thirtyDays);
  assert.ok([...time.pending.values()][0].at <= 2 ** 31 - 1);
  time.advance(2 ** 31);
  assert.deepEqual(released, [[]], "woken early, with nothing due, it sets itself again");
  time.advance(thirtyDays);
  assert.deepEqual(released, [[], ["far"]]);
});

Deno.test("retry timer: stop clears the timer and keeps what is held", () => {
  const { time, timer, released } = setup();
  timer.add("x", 1000);
  timer.stop();
  time.advance(5000);
  assert.deepEqual(released, []);
  assert.deepEqual(timer.takeDue(), ["x"]);
});
