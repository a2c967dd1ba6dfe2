// Signal and Connection (behaviour.md §13, D13): order, Once, Wait, DisconnectAll, counts, and
// a throwing handler that does not stop the others.
import assert from "node:assert/strict";
import { test } from "node:test";
import { Signal } from "../../host/js/lib/signal.js";

test("handlers run synchronously in connection order with bound extras after the arguments", () => {
  const s = new Signal();
  const seen = [];
  s.Connect((a, b) => seen.push(["first", a, b]));
  s.Connect((a, b, extra) => seen.push(["second", a, b, extra]), "x");
  s.Fire(1, 2);
  assert.deepEqual(seen, [
    ["first", 1, 2],
    ["second", 1, 2, "x"],
  ]);
});

test("Once and Wait disconnect after one firing; Wait resolves with the arguments", async () => {
  const s = new Signal();
  let n = 0;
  s.Once(() => n++);
  const waited = s.Wait("extra");
  assert.equal(s.Connections, 2);
  s.Fire("a");
  s.Fire("b");
  assert.equal(n, 1);
  assert.equal(s.Connections, 0);
  assert.deepEqual(await waited, ["a", "extra"]);
});

test("a throwing handler is reported and the others still run", () => {
  const s = new Signal();
  const reported = [];
  const original = Signal.onError;
  Signal.onError = (e) => reported.push(e.message);
  try {
    let ran = false;
    s.Connect(() => {
      throw new Error("boom");
    });
    s.Connect(() => (ran = true));
    s.Fire();
    assert.equal(ran, true);
    assert.deepEqual(reported, ["boom"]);
  } finally {
    Signal.onError = original;
  }
});

test("connections added during a firing are reached; removing others does not break the walk", () => {
  const s = new Signal();
  const seen = [];
  let third;
  s.Connect(() => {
    seen.push(1);
    third.Disconnect();
    s.Connect(() => seen.push(4));
  });
  s.Connect(() => seen.push(2));
  third = s.Connect(() => seen.push(3));
  s.Fire();
  assert.deepEqual(seen, [1, 2, 4]);
});

test("a handler that disconnects itself does not skip the next one", () => {
  const s = new Signal();
  const seen = [];
  const c = s.Connect(() => {
    seen.push("a");
    c.Disconnect();
  });
  s.Connect(() => seen.push("b"));
  s.Fire();
  s.Fire();
  assert.deepEqual(seen, ["a", "b", "b"]);
});

test("DisconnectAll, Connected, and the count callback", () => {
  const counts = [];
  const s = new Signal((n) => counts.push(n));
  const a = s.Connect(() => {});
  s.Connect(() => {});
  s.DisconnectAll();
  assert.equal(s.Connections, 0);
  assert.equal(a.Connected, false);
  assert.equal(a.Signal, undefined);
  assert.deepEqual(counts, [1, 2, 1, 0]);
  a.Disconnect();
  assert.deepEqual(counts, [1, 2, 1, 0]);
});

test("read-only fields and bad handlers throw TypeError", () => {
  const s = new Signal();
  assert.throws(
    () => {
      s.Connections = 5;
    },
    { name: "TypeError", message: "Attempt to modify a readonly value" },
  );
  assert.throws(() => s.Connect(5), {
    name: "TypeError",
    message: "Attempt to Connect failed: Passed value is not a function",
  });
  // Called on something else, each method says so in the original's words (§13).
  const other = {};
  for (const [method, message] of [
    ["Connect", "Attempt to Connect failed: Passed value is not a Signal"],
    ["Once", "Attempt to Connect failed: Passed value is not a Signal"],
    ["Wait", "Attempt to Connect failed: Passed value is not a Signal"],
    ["DisconnectAll", "Attempt to Connect failed: Passed value is not a Signal"],
    ["Fire", "Attempt to connect failed: Passed value is not a Signal"],
  ]) {
    assert.throws(() => s[method].call(other, () => {}), { name: "TypeError", message });
  }
  const connection = s.Connect(() => {});
  assert.throws(() => connection.Disconnect.call(other), {
    name: "TypeError",
    message: "Attempt to Disconnect failed: Passed value is not a Connection",
  });
});
