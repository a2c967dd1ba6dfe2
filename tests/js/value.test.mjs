// What a DataStore cannot hold is refused at the JS boundary with the path of the value
// (host/js/lib/value.js), through the public `compress`.
import assert from "node:assert/strict";
import { test } from "node:test";
import { compress, decompress } from "../../pkg/index.mjs";

const refusal = (value) => {
  try {
    compress(value);
  } catch (e) {
    assert.ok(e instanceof Error);
    return e.message;
  }
  assert.fail("expected an Error");
};

test("NaN and infinities are refused with their path", () => {
  assert.equal(refusal({ Inventory: [1, 2, 3, NaN] }), "value.Inventory[3]: NaN cannot be stored");
  assert.equal(refusal({ x: Infinity }), "value.x: Infinity cannot be stored");
  assert.equal(refusal({ x: -Infinity }), "value.x: -Infinity cannot be stored");
});

test("functions, symbols and BigInt are refused", () => {
  assert.match(refusal({ f() {} }), /^value\.f: a function cannot be stored/);
  assert.match(refusal({ s: Symbol("x") }), /^value\.s: a symbol cannot be stored/);
  assert.match(refusal({ n: 10n }), /^value\.n: a BigInt cannot be stored/);
});

test("holes, undefined and null inside arrays are refused", () => {
  // eslint-disable-next-line no-sparse-arrays
  assert.match(refusal([1, , 3]), /^value\[1\]: a hole or undefined inside an array/);
  assert.match(refusal([1, undefined]), /^value\[1\]: a hole or undefined inside an array/);
  assert.match(refusal([1, null]), /^value\[1\]: null inside an array/);
});

test("unpaired surrogates, class instances and cycles are refused", () => {
  assert.match(refusal({ "a b": ["\ud800"] }), /^value\["a b"\]\[0\]: a string with an unpaired surrogate/);
  assert.match(refusal({ d: new Date(0) }), /^value\.d: a Date object cannot be stored/);
  assert.match(refusal({ m: new Map() }), /^value\.m: a Map object cannot be stored/);
  const a = { b: {} };
  a.b.c = a;
  assert.match(refusal(a), /^value\.b\.c: a cycle cannot be stored/);
});

test("keys with unpaired surrogates and objects with a toJSON method are refused", () => {
  // JSON.stringify would write the key as \ud800, which no JSON reader takes as text.
  assert.match(refusal({ a: [{ "\ud800": 1 }] }), /^value\.a\[0\]\["\\ud800"\]: a key with an unpaired surrogate/);
  // JSON.stringify would write what toJSON returns: a method the walk does not see (not
  // enumerable, or inherited) would change what is stored.
  const hidden = { coins: 100 };
  Object.defineProperty(hidden, "toJSON", { value: () => ({ coins: 0 }) });
  assert.match(refusal({ p: hidden }), /^value\.p: an object with a toJSON method cannot be stored/);
  const list = [1, 2];
  Object.defineProperty(list, "toJSON", { value: () => "gone" });
  assert.match(refusal(list), /^value: an object with a toJSON method cannot be stored/);
  const parent = Object.create(null);
  Object.defineProperty(parent, "toJSON", { value: () => 42 });
  assert.match(refusal(Object.assign(Object.create(parent), { a: 1 })), /^value: an object with a toJSON/);
});

test("deep nesting is refused, not a stack overflow", () => {
  let v = 1;
  for (let i = 0; i < 100_000; i++) v = [v];
  assert.match(refusal(v), /nesting deeper than 512 levels/);
});

test("shared sub-tables are not cycles; undefined and null properties are absent keys", () => {
  const s = [1];
  assert.equal(compress({ a: s, b: s }), "*#a\x7f|>1\x7f#b\x7f|>1\x7f\x7f");
  assert.equal(compress({ a: undefined, b: null, c: 1 }), "*#c\x7f>1\x7f");
  assert.equal(compress(Object.assign(Object.create(null), { k: true })), "*#k\x7f+\x7f");
});

test("options are checked like values", () => {
  assert.throws(() => compress(1, { Decimals: NaN }), { message: "options.Decimals: NaN cannot be stored" });
  assert.equal(decompress(compress(1.25, { Decimals: 1 }), { Decimals: 1 }), 1.3);
});

test("arrays with named properties are refused: JSON.stringify would drop them", () => {
  const inventory = ["Sword"];
  inventory.equipped = 0;
  assert.equal(
    refusal({ Inventory: inventory }),
    "value.Inventory.equipped: an array's named property cannot be stored (only its elements are data)",
  );
  assert.match(refusal({ m: "abc".match(/b/) }), /^value\.m\.index: an array's named property/);
  const odd = [1];
  odd["-1"] = 2;
  assert.match(refusal(odd), /^value\["-1"\]: an array's named property/);
});

test("inherited properties are refused: JSON.stringify would drop them", () => {
  const parent = Object.assign(Object.create(null), { Coins: 5 });
  assert.equal(
    refusal({ Stats: Object.create(parent) }),
    "value.Stats.Coins: an inherited property cannot be stored (only own properties are data)",
  );
  // A null-prototype parent without properties is fine (another realm's Object.prototype is one).
  assert.equal(compress(Object.assign(Object.create(Object.create(null)), { k: 1 })), "*#k\x7f>1\x7f");
});

test("-0 is kept, as <0", () => {
  assert.equal(compress({ a: -0, b: [0, -0] }), "*#a\x7f<0#b\x7f|>0<0\x7f\x7f");
  assert.ok(Object.is(decompress(compress({ a: -0 })).a, -0));
});

test("-0 is kept when a getter in the value converts a value of its own on the way", () => {
  // The getter runs inside the walk of the outer value, after it met the -0.
  const value = {
    a: -0,
    get b() {
      compress({ c: 1 });
      return 1;
    },
  };
  assert.equal(compress(value), "*#a\x7f<0#b\x7f>1\x7f");
});

test("__proto__ and constructor keys are plain data", () => {
  const value = JSON.parse('{"__proto__":{"x":1},"constructor":{"y":2}}');
  const text = compress(value);
  assert.equal(text, "*#__proto__\x7f*#x\x7f>1\x7f#constructor\x7f*#y\x7f>2\x7f\x7f");
  const back = decompress(text);
  assert.equal(Object.getPrototypeOf(back), Object.prototype);
  assert.ok(Object.hasOwn(back, "__proto__") && Object.hasOwn(back, "constructor"));
  assert.equal(back.x, undefined);
  assert.deepEqual(JSON.parse(JSON.stringify(back)), JSON.parse('{"__proto__":{"x":1},"constructor":{"y":2}}'));
});
