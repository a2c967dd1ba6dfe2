// Shared by the ESM and CommonJS suites: every line of the codec vectors (tests/vectors/README.md).
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";

const dir = new URL("../vectors/", import.meta.url);
const lines = (name) =>
  readFileSync(new URL(name, dir), "utf8")
    .split("\n")
    .filter((line) => line.trim())
    .map((line) => JSON.parse(line));

const isEmptyTable = (v) => v !== null && typeof v === "object" && Object.keys(v).length === 0;

/**
 * Deep equality with numbers compared as f64 and -0 equal to 0, and `[]` equal to `{}` (the
 * vectors write every empty table as `{}`; `|`DEL decodes to `[]`).
 */
export function sameValue(actual, expected, path = "value") {
  if (isEmptyTable(actual) && isEmptyTable(expected)) return;
  if (typeof expected === "number") {
    assert.equal(typeof actual, "number", `${path}: expected a number, got ${JSON.stringify(actual)}`);
    assert.ok(actual === expected, `${path}: ${actual} !== ${expected}`);
    return;
  }
  if (expected === null || typeof expected !== "object") {
    assert.equal(actual, expected, path);
    return;
  }
  assert.equal(Array.isArray(actual), Array.isArray(expected), `${path}: array vs object`);
  const keys = Object.keys(expected);
  assert.deepEqual(Object.keys(actual).sort(), [...keys].sort(), `${path}: keys`);
  for (const key of keys) sameValue(actual[key], expected[key], `${path}.${key}`);
}

const hex = (text) => Buffer.from(text, "utf8").toString("hex");
const fromHex = (h) => Buffer.from(h, "hex").toString("utf8");
const hasIntegerLikeKey = (v) =>
  v !== null &&
  typeof v === "object" &&
  ((!Array.isArray(v) && Object.keys(v).some((k) => /^(0|[1-9]\d*)$/.test(k))) ||
    Object.values(v).some(hasIntegerLikeKey));
const hasDel = (v) =>
  typeof v === "string" ? v.includes("\x7f") : v !== null && typeof v === "object" && Object.values(v).some(hasDel);

/** The errors for text cut short (D17), which the original decoded in part. */
const CUT_SHORT =
  /^corrupt compressed data at byte \d+: (the text ends before the outermost table is closed|the string has no closing DEL)$/;

/** Registers the vector tests for one loaded copy of the package. */
export function vectorSuite(label, { compress, decompress }) {
  test(`${label}: every codec-encode vector`, () => {
    let exact = 0;
    let byDecoding = 0;
    let rejected = 0;
    for (const [i, v] of lines("codec-encode.jsonl").entries()) {
      const settings = { Level: v.level, Decimals: v.decimals, Safety: v.safety };
      const where = `codec-encode.jsonl line ${i + 1}`;
      if (!v.safety && hasDel(v.value)) {
        // D9: a DEL inside a string with Safety off is rejected. The original's bytes are corrupt
        // data a store may really hold: decoding gives some value or a clear Error.
        assert.throws(() => compress(v.value, settings), /DEL/, where);
        try {
          decompress(fromHex(v.encoded_hex), { Decimals: v.decimals });
        } catch (e) {
          assert.ok(e instanceof Error && e.message.length > 0, where);
        }
        rejected++;
        continue;
      }
      sameValue(decompress(fromHex(v.encoded_hex), { Decimals: v.decimals }) ?? null, v.decoded, where);
      const ours = compress(v.value, settings);
      if (hasIntegerLikeKey(v.value)) {
        sameValue(decompress(ours, { Decimals: v.decimals }) ?? null, v.decoded, where);
        byDecoding++;
      } else {
        assert.equal(hex(ours), v.encoded_hex, where);
        exact++;
      }
    }
    assert.equal(exact + byDecoding + rejected, 400);
    assert.ok(exact > 300, `only ${exact} lines compared byte for byte`);
  });

  test(`${label}: every codec-decode vector`, () => {
    let checked = 0;
    let cutShort = 0;
    for (const [i, v] of lines("codec-decode.jsonl").entries()) {
      const where = `codec-decode.jsonl line ${i + 1}`;
      const input = fromHex(v.input_hex);
      if (v.ok) {
        let decoded;
        try {
          decoded = decompress(input, { Decimals: v.decimals });
        } catch (e) {
          // D17: where the original returned part of a text cut short, we throw.
          assert.match(e.message, CUT_SHORT, where);
          cutShort++;
          continue;
        }
        sameValue(decoded ?? null, v.decoded, where);
        checked++;
      } else {
        // The original raised an error: we may throw a clear Error or return a value, never trap.
        try {
          decompress(input, { Decimals: v.decimals });
        } catch (e) {
          assert.ok(e instanceof Error && e.message.length > 0, where);
        }
      }
    }
    assert.ok(checked > 200, `only ${checked} decode lines checked`);
    // As in tests/codec_vectors.rs.
    assert.equal(cutShort, 43);
  });
}
