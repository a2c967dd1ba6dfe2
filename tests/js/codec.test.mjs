// pkg/ from Node, loaded both ways: as ESM (`import`, the web glue) and as CommonJS (`require`,
// the nodejs glue). Both must give the original's bytes.
import assert from "node:assert/strict";
import { createRequire } from "node:module";
import { test } from "node:test";
import * as esm from "../../pkg/index.mjs";
import { vectorSuite } from "./vectors.mjs";

const cjs = createRequire(import.meta.url)("../../pkg/index.cjs");

vectorSuite("ESM", esm);
vectorSuite("CommonJS", cjs);

for (const [label, api] of [
  ["ESM", esm],
  ["CommonJS", cjs],
]) {
  test(`${label}: the documented compression example`, () => {
    const value = {
      Number: 1234567891234.987,
      String: "Hello World!",
      Array: [1234567891234567, 2345678912345678, 3456789123456789, 4567891234567891, 5678912345678912],
    };
    assert.equal(
      api.compress(value),
      "*#Number\x7f)hLy&yaFJ#String\x7f#Hello World!\x7f#Array\x7f|>cGy&yaFJ>e~i~{QA31>4YzarcwI1>v{GMPQr22>mrCnt=mH2\x7f\x7f",
    );
  });

  test(`${label}: bad input throws a clear Error and the module stays usable`, () => {
    assert.throws(() => api.compress({ Inventory: [1, 2, 3, NaN] }), {
      message: "value.Inventory[3]: NaN cannot be stored",
    });
    assert.throws(() => api.compress({ f: () => 1 }), /value\.f: a function cannot be stored/);
    assert.throws(() => api.decompress(42), TypeError);
    assert.throws(() => api.compress(1, { Decimals: "x" }), Error);
    assert.equal(api.decompress("|>1>2\x7f").length, 2);
  });

  test(`${label}: empty text and *DEL decode as the original's nil and {}`, () => {
    assert.equal(api.decompress(""), undefined);
    assert.deepEqual(api.decompress("*\x7f"), {});
    assert.deepEqual(api.decompress("*>1#a\x7f>2#b\x7f\x7f"), ["a", "b"]);
  });

  test(`${label}: an empty array is |DEL at both Levels and comes back an array; {} stays {}`, () => {
    for (const Level of [1, 2]) {
      const text = api.compress({ Inventory: [], Bag: {}, Nested: [[]] }, { Level });
      const nested = Level === 2 ? "||\x7f\x7f" : "*>1|\x7f\x7f";
      assert.equal(text, `*#Inventory\x7f|\x7f#Bag\x7f*\x7f#Nested\x7f${nested}\x7f`);
      const back = api.decompress(text);
      assert.deepEqual(back, { Inventory: [], Bag: {}, Nested: [[]] });
      assert.ok(Array.isArray(back.Inventory) && !Array.isArray(back.Bag));
    }
    assert.deepEqual(api.decompress("|\x7f"), []);
  });

  test(`${label}: -0 is written as <0 and reads back as -0`, () => {
    assert.equal(api.compress(-0), "<0");
    assert.equal(api.compress(0), ">0");
    assert.ok(Object.is(api.decompress("<0"), -0));
    const back = api.decompress(api.compress({ z: [-0, 0] }));
    assert.ok(Object.is(back.z[0], -0) && Object.is(back.z[1], 0));
  });

  test(`${label}: D17: text cut short throws an Error naming the byte offset`, () => {
    // 12345 is `>Z&1`: the original read this as { Coins: 61 }.
    assert.throws(() => api.decompress("*#Coins\x7f>Z"), {
      message: "corrupt compressed data at byte 10: the text ends before the outermost table is closed",
    });
    assert.throws(() => api.decompress("*#Coins"), {
      message: "corrupt compressed data at byte 1: the string has no closing DEL",
    });
    const text = api.compress({ Coins: 12345, Items: ["Sword", { x: 1.5 }], Bag: {} });
    for (let cut = 1; cut < text.length; cut++) {
      assert.throws(() => api.decompress(text.slice(0, cut)), /^Error: corrupt compressed data at byte \d+: /);
    }
    assert.deepEqual(api.decompress(text), { Coins: 12345, Items: ["Sword", { x: 1.5 }], Bag: {} });
  });

  test(`${label}: text with an unpaired surrogate throws; it was read as U+FFFD`, () => {
    assert.throws(() => api.decompress("#a\ud800b\x7f"), {
      message: "corrupt compressed data: the text has an unpaired surrogate",
    });
    assert.equal(api.decompress("#a\ud83d\ude00b\x7f"), "a\u{1f600}b");
  });

  test(`${label}: keys Safety would write alike throw, naming both; the original lost one`, () => {
    assert.throws(() => api.compress({ Pets: { "Rex\x7f": { Level: 10 }, "Rex ": { Level: 1 } } }), {
      message: 'Value.Pets: the keys "Rex\\u{7f}" and "Rex " are alike once Safety makes DEL a space',
    });
  });

  test(`${label}: keys a JS object would merge (true and "true", from Luau) throw, naming the table`, () => {
    assert.throws(() => api.decompress("*#Coins\x7f>5#Bag\x7f*#true\x7f++<o8\x7f\x7f"), {
      message: 'value.Bag: two keys of this table are both written "true" in JSON, so one would overwrite the other',
    });
    // One of them alone is a property named by its text.
    assert.deepEqual(api.decompress("*#Coins\x7f>5#Bag\x7f*+<o8\x7f\x7f"), { Coins: 5, Bag: { true: -688 } });
  });

  test(`${label}: Decimals is any finite number, or a string Luau reads as one`, () => {
    // The original takes `10 ^ Decimals` of whatever it is given; a record it wrote with an odd
    // setting must load and save again (tests/vectors/original has such records).
    assert.equal(api.compress(1.25, { Decimals: -1 }), ")0"); // rounded to tens
    assert.equal(api.decompress(api.compress(17.5, { Decimals: -1 }), { Decimals: -1 }), 20);
    assert.equal(api.compress(1.5, { Decimals: 1.5 }), ")L"); // round(1.5 × 10^1.5) = 47
    assert.equal(api.compress(1.5, { Decimals: "3" }), api.compress(1.5, { Decimals: 3 }));
    assert.equal(api.decompress(")1", { Decimals: " 0x2 " }), 0.01);
    assert.equal(api.decompress(api.compress(0.5, { Decimals: 20 }), { Decimals: 20 }), 0.5);
    for (const [Decimals, message] of [
      ["x", /^Metadata\.Compress\.Decimals must be a number, got a string that is not one$/],
      ["inf", /^Metadata\.Compress\.Decimals must be a finite number, got inf$/],
      [Infinity, /^options\.Decimals: Infinity cannot be stored$/],
    ]) {
      assert.throws(() => api.compress(1.5, { Decimals }), { message });
      assert.throws(() => api.decompress(")1", { Decimals }), { message });
    }
    assert.throws(() => api.compress(1.5, { Decimals: 400 }), /1\.5 cannot be stored with this Decimals setting/);
    assert.equal(api.compress(7, { Decimals: 400 }), ">7");
  });
}
