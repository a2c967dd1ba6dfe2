// The package's codec against the original module v1.2 (tests/vectors/original/, made by
// `make vectors-original`; its README has the fields), the same rules as tests/codec_original.rs,
// for what JS can hold.
//
// `decompress` of every stored text must give what the original read back (or, for text the
// original wrote corrupt, an Error with the position: D17). `compress` is checked
// on the values JS can hold: tables that are sequences or have only string keys, no -0
// (JSON.stringify writes it as 0) and nothing the original could not write. A value the original
// stored faithfully (up to `Decimals` rounding and, with Safety on, DEL turned into a space) must
// compress to its bytes, or, where pair order may differ (a table of 2+ entries; JS also puts
// integer-like keys first), decode to the same value; one it lost must be refused with its path
// or come back exactly.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { compress, decompress } from "../../pkg/index.mjs";

const cases = readFileSync(new URL("../vectors/original/values.jsonl", import.meta.url), "utf8")
  .split("\n")
  .filter((line) => line.trim())
  .map((line) => JSON.parse(line));

// ---- the Luau value text (src/value/luau_text.rs), read into a model that keeps key types ----
// A table is { pairs: [[key, value, key text], …] } with number, string or boolean keys (the key
// text is Luau's tostring of the key); `{ unwritable }` is what the host could not write
// (`?function;`); nil is undefined.

const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

function readText(text) {
  if (text === "") return undefined;
  const bytes = Buffer.from(text, "utf8");
  let pos = 0;
  const until = (byte) => {
    const end = bytes.indexOf(byte, pos);
    assert.ok(end >= 0, `value text: no ${String.fromCharCode(byte)} after byte ${pos}`);
    const run = bytes.subarray(pos, end);
    pos = end + 1;
    return run.toString("latin1");
  };
  const item = () => {
    const tag = String.fromCharCode(bytes[pos++]);
    switch (tag) {
      case "t":
        return true;
      case "f":
        return false;
      case "n":
        return Number(until(0x3b));
      case "s": {
        const len = Number(until(0x3a));
        const s = utf8.decode(bytes.subarray(pos, pos + len));
        pos += len;
        return s;
      }
      case "?":
        return { unwritable: until(0x3b) };
      case "{": {
        const pairs = [];
        while (bytes[pos] !== 0x7d) {
          const from = pos;
          const key = item();
          // How Luau's tostring printed a number key: what `decompress` names it.
          const keyText = typeof key === "number" ? bytes.toString("utf8", from + 1, pos - 1) : String(key);
          pairs.push([key, item(), keyText]);
        }
        pos++;
        return { pairs };
      }
      case "[": {
        const pairs = [];
        while (bytes[pos] !== 0x5d) pairs.push([pairs.length + 1, item(), String(pairs.length + 1)]);
        pos++;
        return { pairs };
      }
      default:
        throw new Error(`value text: unknown tag ${tag} at byte ${pos - 1}`);
    }
  };
  const value = item();
  assert.equal(pos, bytes.length, "value text: text after the value");
  return value;
}

const isTable = (v) => v !== null && typeof v === "object" && "pairs" in v;

/** Keys exactly 1..n (n ≥ 1): a sequence, as Luau and the core see it. */
function sequenceItems(table) {
  const n = table.pairs.length;
  if (n === 0) return null;
  const items = new Array(n);
  for (const [k, v] of table.pairs) {
    if (typeof k !== "number" || !Number.isInteger(k) || k < 1 || k > n || items[k - 1] !== undefined) return null;
    items[k - 1] = v;
  }
  return items;
}

/** Strict equality of two model values: key types matter, -0 is not 0, pair order does not. */
function same(a, b) {
  if (typeof a === "number" || typeof b === "number") return Object.is(a, b);
  if (!isTable(a) || !isTable(b)) return a === b;
  if (a.pairs.length !== b.pairs.length) return false;
  return a.pairs.every(([k, v]) => {
    const other = b.pairs.find(([k2]) => k2 === k);
    return other !== undefined && same(v, other[1]);
  });
}

function walk(v, test) {
  return test(v) || (isTable(v) && v.pairs.some(([k, item]) => walk(k, test) || walk(item, test)));
}

/** What the format loses by design: `Decimals` rounding as the decoder reads it, DEL → space. */
function designedLoss(v, scale, safety) {
  if (typeof v === "number") {
    if (v - Math.floor(v) === 0) return v;
    const round = (x) => Math.sign(x) * Math.round(Math.abs(x)); // half away from zero, as Luau
    return v < 0 ? -round(-v * scale) / scale : round(v * scale) / scale;
  }
  if (typeof v === "string") return safety ? v.replaceAll("\x7f", " ") : v;
  if (!isTable(v)) return v;
  const pairs = [];
  for (const [k, item, keyText] of v.pairs) {
    const key = designedLoss(k, scale, safety);
    const at = pairs.findIndex(([k2]) => k2 === key);
    if (at >= 0) pairs.splice(at, 1);
    pairs.push([key, designedLoss(item, scale, safety), typeof key === "string" ? key : keyText]);
  }
  return { pairs };
}

/** The JS form of a model value, or `undefined` when JS cannot hold it (see the file's top). */
function toJs(v) {
  if (typeof v === "number") return Object.is(v, -0) ? undefined : v;
  if (typeof v !== "object") return v;
  if (!isTable(v)) return undefined;
  const items = sequenceItems(v);
  if (items) {
    const out = items.map(toJs);
    return out.includes(undefined) ? undefined : out;
  }
  const out = {};
  for (const [k, item] of v.pairs) {
    const js = toJs(item);
    if (typeof k !== "string" || js === undefined) return undefined;
    out[k] = js;
  }
  return out;
}

/** How `decompress` gives a model value: number and boolean keys as their Luau `tostring`. */
function decodedForm(v) {
  if (!isTable(v)) return v;
  const items = sequenceItems(v);
  if (items) return items.map(decodedForm);
  const out = {};
  for (const [, item, keyText] of v.pairs) out[keyText] = decodedForm(item);
  return out;
}

/** Deep equality of JS values: -0 is not 0, key order does not matter. */
function sameJs(a, b) {
  if (typeof a === "number" || typeof b === "number") return Object.is(a, b);
  if (a === null || b === null || typeof a !== "object" || typeof b !== "object") return a === b;
  if (Array.isArray(a) !== Array.isArray(b)) {
    return Object.keys(a).length === 0 && Object.keys(b).length === 0;
  }
  const keys = Object.keys(a);
  return keys.length === Object.keys(b).length && keys.every((k) => Object.hasOwn(b, k) && sameJs(a[k], b[k]));
}

/** Whether a table of `v` has two keys written alike (`true` and `"true"`, `1` and `"1"`), which a
 * JS object cannot both hold: ours refuses such a value rather than keep one of them. */
const mergesKeys = (v) =>
  walk(v, (t) => isTable(t) && new Set(t.pairs.map(([, , keyText]) => keyText)).size < t.pairs.length);

const orderMayDiffer = (v, level1) =>
  walk(v, (t) => isTable(t) && t.pairs.length >= 2 && (level1 || sequenceItems(t) === null));

const show = (v) => JSON.stringify(v);

/** Text the original wrote corrupt: a DEL ended a string early (Safety off), or an unsupported
 * value was written as nothing. Decoding it may fail with its position (D17). */
function corrupt(c) {
  const value = readText(c.value);
  return (
    walk(value, (v) => v !== null && typeof v === "object" && "unwritable" in v) ||
    (!c.compress.Safety && walk(value, (v) => typeof v === "string" && v.includes("\x7f")))
  );
}

test("the package's codec against the original v1.2", (t) => {
  const tally = {};
  const count = (what) => (tally[what] = (tally[what] ?? 0) + 1);
  const failures = [];
  const fail = (c, what, detail) =>
    failures.push(`case ${c.id} ${JSON.stringify(c.compress)}: ${what}\n    value: ${show(c.value)}\n    ${detail}`);

  for (const c of cases) {
    if (c.compress === null) continue;
    const { Level, Decimals, Safety } = c.compress;

    // Decoding the original's text gives its read back.
    if (c.readback === null) {
      // The original raised, or read a table as a key: ours may throw a clear Error or give a
      // value, never trap.
      try {
        decompress(c.stored, { Decimals });
        count("decoding: ours reads what the original raised on");
      } catch (e) {
        assert.ok(e instanceof Error && e.message.length > 0);
        count("decoding: both fail (the original raises, or reads a table as a key)");
      }
    } else {
      const readback = readText(c.readback);
      const wanted = decodedForm(readback);
      let ours;
      try {
        ours = decompress(c.stored, { Decimals });
      } catch (e) {
        ours = e;
      }
      if (!(ours instanceof Error) && sameJs(ours, wanted)) count("decoding: same value");
      else if (
        ours instanceof Error &&
        mergesKeys(readback) &&
        /: two keys of this table are both written .* in JSON/.test(ours.message)
      ) {
        count('decoding DEPARTURE: ours refuses keys a JS object would merge (true and "true")');
      } else if (ours instanceof Error && corrupt(c) && /^corrupt compressed data at byte/.test(ours.message)) {
        count("decoding DEPARTURE (D17): ours refuses corrupt text the original read in part");
      } else
        fail(
          c,
          "decodes to another value",
          `stored: ${show(c.stored)}\n    wanted: ${show(wanted)}\n    ours: ${ours instanceof Error ? ours.message : show(ours)}`,
        );
    }

    // Compressing, for the values JS can hold.
    const model = readText(c.value);
    const value = toJs(model);
    if (value === undefined) {
      count("compress: not representable in JS (number or boolean keys, -0, a function)");
      continue;
    }
    const scale = 10 ** Decimals;
    const intended = designedLoss(model, scale, Safety);
    const faithful = c.readback !== null && same(readText(c.readback), intended);
    let ours;
    try {
      ours = compress(value, { Level, Decimals, Safety });
    } catch (e) {
      ours = e;
    }
    const back = typeof ours === "string" ? decompress(ours, { Decimals }) : undefined;
    const intendedJs = decodedForm(intended);
    if (faithful) {
      if (ours === c.stored) count("compress: byte-identical");
      else if (typeof ours === "string" && orderMayDiffer(model, Level !== 2) && sameJs(back, intendedJs)) {
        count("compress: same value, other pair order");
      } else fail(c, "compress differs", `original: ${show(c.stored)}\n    ours: ${show(ours?.message ?? ours)}`);
    } else if (ours instanceof Error) {
      if (/^[Vv]alue/.test(ours.message)) count("compress DEPARTURE: refused");
      else fail(c, "a refusal without a path", ours.message);
    } else if (sameJs(back, intendedJs)) {
      count("compress DEPARTURE: lossless where the original lost data");
    } else {
      fail(c, "lossy like the original", `original: ${show(c.stored)}\n    ours: ${show(ours)}`);
    }
  }

  for (const [what, n] of Object.entries(tally).sort()) t.diagnostic(`${String(n).padStart(5)}  ${what}`);
  assert.deepEqual(failures.slice(0, 20), [], `${failures.length} cases differ from the original`);
  assert.ok((tally["compress: byte-identical"] ?? 0) > 1000, "too few values compared byte for byte");
});
