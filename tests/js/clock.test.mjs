// ManualClock: the test clock a module and a MemoryStore share (lib/clock.js).
import assert from "node:assert/strict";
import { createRequire } from "node:module";
import { test } from "node:test";
import { ManualClock, realClock } from "../../pkg/node.mjs";
import { steadyNow } from "../../pkg/lib/clock.js";

test("now() starts where told and moves only with advance()", async () => {
  const clock = new ManualClock(1000);
  assert.equal(clock.now(), 1000);
  await new Promise((resolve) => setTimeout(resolve, 5));
  assert.equal(clock.now(), 1000);
  await clock.advance(250);
  assert.equal(clock.now(), 1250);
  assert.equal(new ManualClock().now(), 0);
  assert.throws(() => new ManualClock(Number.NaN), TypeError);
  await assert.rejects(clock.advance(-1), RangeError);
});

test("advance runs the timers due on the way in time order, each at its own time", async () => {
  const clock = new ManualClock(0);
  const seen = [];
  clock.setTimeout(() => seen.push(["b", clock.now()]), 200);
  clock.setTimeout(() => seen.push(["a", clock.now()]), 100);
  clock.setTimeout(() => seen.push(["c", clock.now()]), 200); // same time: in the order set
  clock.setTimeout((x) => seen.push([x, clock.now()]), 500, "late");
  await clock.advance(300);
  assert.deepEqual(seen, [
    ["a", 100],
    ["b", 200],
    ["c", 200],
  ]);
  assert.equal(clock.now(), 300);
  assert.equal(clock.pendingTimers, 1);
  await clock.advance(200);
  assert.deepEqual(seen.at(-1), ["late", 500]);
});

test("clearTimeout cancels; timers set while advancing run if they fall due in the same advance", async () => {
  const clock = new ManualClock(0);
  const seen = [];
  const id = clock.setTimeout(() => seen.push("cancelled"), 10);
  clock.clearTimeout(id);
  clock.setTimeout(() => {
    seen.push(`first@${clock.now()}`);
    clock.setTimeout(() => seen.push(`chained@${clock.now()}`), 50);
  }, 20);
  await clock.advance(100);
  assert.deepEqual(seen, ["first@20", "chained@70"]);
});

test("the work a timer starts settles before advance returns", async () => {
  const clock = new ManualClock(0);
  const seen = [];
  const sleep = (ms) => new Promise((resolve) => clock.setTimeout(resolve, ms));
  (async () => {
    await sleep(100);
    await Promise.resolve();
    await null;
    seen.push("woke");
    await sleep(100); // a new timer from inside the chain
    seen.push("woke again");
  })();
  await clock.advance(100);
  assert.deepEqual(seen, ["woke"]);
  await clock.advance(100);
  assert.deepEqual(seen, ["woke", "woke again"]);
});

test("time stays where milliseconds still add up (Number.MAX_SAFE_INTEGER)", async () => {
  assert.throws(() => new ManualClock(2 ** 63), RangeError);
  const clock = new ManualClock(Number.MAX_SAFE_INTEGER - 10);
  await clock.advance(10);
  await assert.rejects(clock.advance(1), /passes Number\.MAX_SAFE_INTEGER/);
  assert.equal(clock.now(), Number.MAX_SAFE_INTEGER);
  await clock.advance(0); // the queue goes on after a refused advance
});

test("concurrent advances take turns", async () => {
  const clock = new ManualClock(0);
  await Promise.all([clock.advance(10), clock.advance(20)]);
  assert.equal(clock.now(), 30);
});

test("realClock is the machine's time and timers", async () => {
  const before = Date.now();
  assert.ok(Math.abs(realClock.now() - before) < 1000);
  await new Promise((resolve) => realClock.setTimeout(resolve, 5));
  const id = realClock.setTimeout(() => assert.fail("cleared"), 5);
  realClock.clearTimeout(id);
  await new Promise((resolve) => setTimeout(resolve, 20));
});

test("realClock's time never goes back and follows the wall clock forward", () => {
  // Date.now() stepped back made leases look longer than they were (a simulation soak).
  let wall = 1_000;
  let mono = 0;
  const now = steadyNow(
    () => wall,
    () => mono,
  );
  assert.equal(now(), 1_000);
  [wall, mono] = [1_010, 10];
  assert.equal(now(), 1_010);
  [wall, mono] = [900, 20]; // the wall clock set back 120 ms
  assert.equal(now(), 1_020, "a step back is not followed: time goes on");
  [wall, mono] = [5_000, 30]; // set forward, or a suspend the monotonic clock did not count
  assert.equal(now(), 5_000, "a jump ahead is followed");
  [wall, mono] = [5_005, 40];
  assert.equal(now(), 5_010, "and time then passes as the monotonic clock says");
});

test("the CommonJS entry has the same clock", () => {
  const cjs = createRequire(import.meta.url)("../../pkg/index.cjs");
  assert.equal(new cjs.ManualClock(5).now(), 5);
  assert.equal(typeof cjs.realClock.now(), "number");
});
