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
}
