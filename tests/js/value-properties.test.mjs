// Seeded random values through the public API, where the fast paths of issue 12 run: a snapshot
// that is already the core's JSON is stored as it is, its digest is taken before the canonical
// check and reused, an unchanged save is skipped, and a loaded record that is the core's JSON
// goes to the host as that text. The hand-picked cases are in round-trip.test.mjs; these look for
// the value nobody thought of (odd keys and strings, numbers that JSON.stringify writes other
// than the core, -0, empty tables, nesting).
//
// Checked:
// - saved on one server and loaded on another, a value comes back exactly (-0 apart from 0), and
//   the store holds its JSON;
// - with Metadata.Compress, what loads is what the package's own codec gives for the value, and
//   saved again it loads the same;
// - queued, a value reaches the owner's ProcessQueue exactly;
// - a session that keeps changing its value in place and saving leaves the store holding exactly
//   the value of its last "Saved", and writes nothing for a save with no change (D16);
// - Reconcile(template), and Open(template) on an open session, leave the value as behaviour.md
//   §10.1's algorithm does, written out here on the JS objects (a `length` key is not put on an
//   array, which cannot hold it as data).
//
// VALUE_SEED and VALUE_CASES change the run.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { runInNewContext } from "node:vm";
import { compress, decompress } from "../../pkg/node.mjs";
import { rng as random } from "../../bench/corpus.mjs";
import { world, within } from "./helpers/world.mjs";

const FIRST_SEED = Number(process.env.VALUE_SEED ?? 1);
const CASES = Number(process.env.VALUE_CASES ?? 150);

/** Keys and strings that have broken JSON code somewhere. */
const ODD_TEXTS = [
  "",
  "a",
  "Coins",
  "__proto__",
  "constructor",
  "toString",
  "length",
  "0",
  "1",
  "01",
  "-1",
  "1.5",
  "1e3",
  "a b",
  'quote"',
  "back\\slash",
  "new\nline",
  "tab\t",
  "\u0000",
  "\u0001",
  "\u001f",
  "\b\f",
  "\u007f",
  "\u0080",
  "é",
  "日本語",
  "😀",
  "\u2028\u2029",
  "\ufeff",
  "\\u0041",
  "</script>",
];

/** Numbers JSON.stringify and the core may write differently, and ordinary ones. */
const ODD_NUMBERS = [
  0,
  -0,
  1,
  -1,
  0.1,
  0.1 + 0.2,
  1 / 3,
  -2.5,
  1e21,
  1e-7,
  1.5e-5,
  123456789012345680000,
  2 ** 53,
  2 ** 53 + 2,
  -(2 ** 63),
  5e-324,
  2.2250738585072014e-308,
  1.7976931348623157e308,
  1e300,
  -1e-300,
  936.7557964287698,
  999999999999999.9,
  1e15,
  1e16,
  0.000001,
  100,
];

/** A random value's JSON text (so that `__proto__` keys become own properties when parsed). */
function textOf(next, depth) {
  const pick = (list) => list[Math.floor(next() * list.length)];
  const string = () => {
    if (next() < 0.5) return pick(ODD_TEXTS);
    const length = Math.floor(next() * 12);
    let s = "";
    for (let i = 0; i < length; i++) {
      const r = next();
      if (r < 0.7) s += String.fromCharCode(0x20 + Math.floor(next() * 95));
      else if (r < 0.85) s += String.fromCharCode(Math.floor(next() * 0x20));
      else if (r < 0.95) s += String.fromCharCode(0x80 + Math.floor(next() * 0xd700));
      else s += String.fromCodePoint(0x10000 + Math.floor(next() * 0xfffff));
    }
    return s;
  };
  const number = () => {
    const r = next();
    const n =
      r < 0.4
        ? pick(ODD_NUMBERS)
        : r < 0.7
          ? Math.floor(next() * 10 ** Math.floor(next() * 16)) * (next() < 0.2 ? -1 : 1)
          : (next() - 0.5) * 10 ** Math.floor(next() * 30 - 12);
    return Object.is(n, -0) ? "-0" : String(n);
  };
  const r = next();
  if (depth >= 4 || r < 0.45) {
    const s = next();
    if (s < 0.4) return JSON.stringify(string());
    if (s < 0.85) return number();
    return next() < 0.5 ? "true" : "false";
  }
  const size = Math.floor(next() * 6);
  const items = Array.from({ length: size }, () => textOf(next, depth + 1));
  if (r < 0.65) return `[${items.join(",")}]`;
  return `{${items.map((item) => `${JSON.stringify(string())}:${item}`).join(",")}}`;
}

/** A random value: usually a table, as player data is. */
function valueOf(seed) {
  const next = random(seed);
  for (;;) {
    const text = textOf(next, 0);
    if (text.startsWith("{") || next() < 0.2) return JSON.parse(text);
  }
}

const entryOf = (store) => store.dataGet("Player", "global", "1");

/** Compress settings for case `seed`: Level 1 or 2, a few Decimals, Safety on or off. */
function compressionOf(seed) {
  const next = random(seed ^ 0x5bd1e995);
  return {
    Level: next() < 0.5 ? 1 : 2,
    Decimals: [0, 3, 8, 15][Math.floor(next() * 4)],
    Safety: next() < 0.5,
  };
}

describe("random values survive a save and a load", () => {
  test(`as JSON: exactly (${CASES} values from seed ${FIRST_SEED})`, async () => {
    for (let seed = FIRST_SEED; seed < FIRST_SEED + CASES; seed++) {
      const value = valueOf(seed);
      const { clock, store, server } = world();
      const writer = server().new("Player", 1);
      assert.deepEqual(await within(clock, writer.Open()), ["Success", undefined]);
      writer.Value = value;
      const [response] = await within(clock, writer.Save());
      assert.equal(response, "Saved", `seed ${seed}: ${JSON.stringify(value)}`);
      assert.deepStrictEqual(JSON.parse((await entryOf(store)).value), value, `seed ${seed}: the stored text`);
      await within(clock, writer.Close());
      const reader = server().new("Player", 1);
      assert.deepEqual(await within(clock, reader.Read()), ["Success", undefined]);
      assert.deepStrictEqual(reader.Value, value, `seed ${seed}: the loaded value`);
    }
  });

  test(`with Metadata.Compress: what the codec gives, again after a second save (${CASES} values)`, async () => {
    for (let seed = FIRST_SEED; seed < FIRST_SEED + CASES; seed++) {
      const value = valueOf(seed);
      const settings = compressionOf(seed);
      // The codec refuses what it cannot store exactly (numbers past 2^53 whose digits the
      // format would change); the session's save must then refuse it too, writing nothing.
      let expected;
      let refusal;
      try {
        expected = decompress(compress(value, settings), { Decimals: settings.Decimals });
      } catch (e) {
        refusal = e.message;
      }
      const { clock, store, server } = world();
      const writer = server().new("Player", 1);
      await within(clock, writer.Open());
      writer.Metadata = { Compress: settings };
      writer.Value = value;
      const [response, message] = await within(clock, writer.Save());
      if (refusal !== undefined) {
        assert.deepEqual([response, message], ["Error", refusal], `seed ${seed}`);
        assert.equal(await entryOf(store), undefined, `seed ${seed}: nothing written`);
        continue;
      }
      assert.equal(response, "Saved", `seed ${seed}`);
      await within(clock, writer.Close());
      const again = server().new("Player", 1);
      assert.deepEqual(await within(clock, again.Open()), ["Success", undefined]);
      assert.deepStrictEqual(again.Value, expected, `seed ${seed}: the loaded value`);
      // Saved again as loaded, it loads as the codec gives for it: at high Decimals the format
      // is not a fixed point (a fraction scaled past 2^52 can round to a neighbour), as in the
      // original.
      again.Value = structuredClone(again.Value);
      assert.equal((await within(clock, again.Close()))[0], "Saved", `seed ${seed}`);
      const third = server().new("Player", 1);
      assert.deepEqual(await within(clock, third.Read()), ["Success", undefined]);
      const twice = decompress(compress(expected, settings), { Decimals: settings.Decimals });
      assert.deepStrictEqual(third.Value, twice, `seed ${seed}: saved again and loaded`);
    }
  });
});

describe("random values sent through the queue", () => {
  test(`reach the owner's ProcessQueue exactly, in order (${CASES} values)`, async () => {
    const { clock, server } = world();
    const owner = server().new("Player", 1);
    await within(clock, owner.Open());
    const received = [];
    owner.ProcessQueue.Connect(async (id, values) => {
      received.push(...values);
      await owner.Remove(id);
    });
    const sender = server().new("Player", 1);
    const sent = [];
    for (let seed = FIRST_SEED; seed < FIRST_SEED + CASES; seed++) {
      const value = valueOf(seed);
      const [response, message] = await within(clock, sender.Queue(value), 1);
      assert.equal(response, "Success", `seed ${seed}: ${message}`);
      sent.push(value);
    }
    for (let i = 0; i < 60 && received.length < sent.length; i++) await clock.advance(5_000);
    assert.deepStrictEqual(received, sent);
  });
});

describe("a session that keeps changing its value", () => {
  /** A change in place somewhere in `root` (a table): set, add or delete a key, push, pop. */
  function mutate(root, next, seed) {
    const tables = [];
    const collect = (t) => {
      tables.push(t);
      for (const key of Object.keys(t)) if (typeof t[key] === "object" && t[key] !== null) collect(t[key]);
    };
    collect(root);
    const table = tables[Math.floor(next() * tables.length)];
    const fresh = valueOf(seed);
    if (Array.isArray(table)) {
      const r = next();
      if (r < 0.3 && table.length > 0) table.pop();
      else if (r < 0.6 || table.length === 0) table.push(fresh);
      else table[Math.floor(next() * table.length)] = fresh;
      return;
    }
    const keys = Object.keys(table);
    if (next() < 0.25 && keys.length > 0) delete table[keys[Math.floor(next() * keys.length)]];
    else {
      const key =
        next() < 0.5 && keys.length > 0 ? keys[Math.floor(next() * keys.length)] : ODD_TEXTS[seed % ODD_TEXTS.length];
      Object.defineProperty(table, key, { value: fresh, enumerable: true, writable: true, configurable: true });
    }
  }

  test(`the store holds exactly the value of the last Saved; no change, no write (${CASES} steps)`, async () => {
    const next = random(FIRST_SEED * 7919);
    const { clock, store, server } = world();
    const ds = server().new("Player", 1);
    await within(clock, ds.Open());
    ds.Value = { Coins: 0, Bag: [] };
    for (let step = 0; step < CASES; step++) {
      const change = next() < 0.75;
      if (change) mutate(ds.Value, next, FIRST_SEED * 1000 + step);
      const before = await entryOf(store);
      const [response] = await within(clock, ds.Save());
      assert.equal(response, "Saved", `step ${step}`);
      const after = await entryOf(store);
      assert.deepStrictEqual(JSON.parse(after.value), ds.Value, `step ${step}: the store holds the value saved`);
      if (!change && before !== undefined) assert.equal(after.version, before.version, `step ${step}: no write`);
    }
  });
});

describe("Reconcile fills in what the value lacks, as §10.1 says", () => {
  /** Plain objects and arrays: the tables of the core's model. */
  const isTable = (v) =>
    typeof v === "object" &&
    v !== null &&
    (Array.isArray(v) || [Object.prototype, null].includes(Object.getPrototypeOf(v)));

  /** A deep copy of the tables, with everything else (a function too) as it is. */
  function copy(v) {
    if (!isTable(v)) return v;
    if (Array.isArray(v)) return v.map(copy);
    const out = {};
    for (const key of Object.keys(v)) {
      Object.defineProperty(out, key, { value: copy(v[key]), writable: true, enumerable: true, configurable: true });
    }
    return out;
  }

  const define = (table, key, value) =>
    Object.defineProperty(table, key, { value, writable: true, enumerable: true, configurable: true });

  /** The object a load gives an array that took a string key (a mixed table in Luau): element i
   * at `${i + 1}`. */
  function tableOf(array) {
    const table = {};
    array.forEach((item, i) => item !== null && define(table, String(i + 1), item));
    return table;
  }

  /**
   * behaviour.md §10.1 on JS objects (array elements are number keys, never reconciled; a
   * template key that lands on an array makes it `tableOf` it). Gives the reconciled table, or
   * `CLASH` where a template key is the text of an element's key, which a JS object cannot hold
   * beside it.
   */
  function reconcile(target, template) {
    if (Array.isArray(template)) return target;
    for (const key of Object.keys(template)) {
      const have = Array.isArray(target) || !Object.hasOwn(target, key) ? undefined : target[key];
      if (have === undefined || have === null) {
        if (Array.isArray(target)) {
          if (/^[1-9][0-9]*$/.test(key) && (target[key - 1] ?? null) !== null) return CLASH;
          target = tableOf(target);
        }
        define(target, key, copy(template[key]));
      } else if (isTable(have) && isTable(template[key])) {
        const filled = reconcile(have, template[key]);
        if (filled === CLASH) return CLASH;
        if (filled !== have) define(target, key, filled);
      }
    }
    return target;
  }
  const CLASH = Symbol("clash");

  /** A value made from `template`: keys taken out, others changed, some added, a function kept. */
  function valueFrom(template, next, seed) {
    if (!isTable(template) || Array.isArray(template)) return next() < 0.5 ? copy(template) : valueOf(seed);
    const value = {};
    for (const key of Object.keys(template)) {
      const r = next();
      const item =
        r < 0.3 ? undefined : r < 0.4 ? valueOf(seed + 1) : r < 0.45 ? null : valueFrom(template[key], next, seed + 2);
      if (item !== undefined)
        Object.defineProperty(value, key, { value: item, writable: true, enumerable: true, configurable: true });
    }
    if (next() < 0.3) value.Extra = valueOf(seed + 3);
    if (next() < 0.2) value.Hook = () => {};
    return value;
  }

  test("a template key that lands on an array makes it the object a load gives (a mixed table in Luau)", async () => {
    const { clock, store, server } = world();
    const ds = server().new("Player", 1);
    await within(clock, ds.Open());
    const template = { Bag: { length: 3, Size: 8, 0: "Stick" } };
    ds.Value = { Bag: ["Sword", "Shield"] };
    ds.Reconcile(template);
    assert.deepStrictEqual(ds.Value, { Bag: { 0: "Stick", 1: "Sword", 2: "Shield", length: 3, Size: 8 } });
    assert.deepEqual(await within(clock, ds.Save()), ["Saved", ds.Value]);
    ds.Value = { Bag: ["Shield"] };
    assert.deepEqual(await within(clock, ds.Open(template)), ["Success", undefined]);
    assert.deepStrictEqual(ds.Value, { Bag: { 0: "Stick", 1: "Shield", length: 3, Size: 8 } });
    assert.equal((await within(clock, ds.Close()))[0], "Saved");

    // The same template on the load gives the same value.
    const loader = server().new("Player", 2);
    await store.dataSet("Player", "global", "2", '{"Bag":["Shield"]}', "[]", "{}", null);
    assert.deepEqual(await within(clock, loader.Open(template)), ["Success", undefined]);
    assert.deepStrictEqual(loader.Value, ds.Value);
  });

  test("a template key that is the text of an array element's key is refused, and changes nothing", async () => {
    const { clock, server } = world();
    const ds = server().new("Player", 1);
    await within(clock, ds.Open());
    const template = { Coins: 0, Bag: { Size: 8, 2: "Stick" } };
    ds.Value = { Bag: ["Sword", "Shield"] };
    const message =
      /^Value\.Bag: the template's key "2" would take the place of the array's element \[1\], which is key 2 in Luau/;
    assert.throws(() => ds.Reconcile(template), { message });
    assert.deepStrictEqual(ds.Value, { Bag: ["Sword", "Shield"] });
    const [response, text] = await within(clock, ds.Open(template));
    assert.equal(response, "Error");
    assert.match(text, /^Value: the template cannot be filled in: Value\.Bag: the template's key "2"/);
    assert.deepStrictEqual(ds.Value, { Bag: ["Sword", "Shield"] });
    assert.equal(ds.State, true, "the session stays open");
  });

  test("an array under a __proto__ key becomes an own property too; a template getter that changes the value is no crash", async () => {
    const { clock, server } = world();
    const ds = server().new("Player", 1);
    await within(clock, ds.Open());
    ds.Value = JSON.parse('{"__proto__":["x"]}');
    ds.Reconcile(JSON.parse('{"__proto__":{"k":1}}'));
    assert.equal(Object.getPrototypeOf(ds.Value), Object.prototype);
    assert.deepStrictEqual(Object.getOwnPropertyDescriptor(ds.Value, "__proto__").value, { 1: "x", k: 1 });

    ds.Value = { Bag: { a: 1 } };
    const template = {
      Bag: { b: 2 },
      get c() {
        ds.Value = 5;
        return 3;
      },
    };
    ds.Reconcile(template); // the patch was made for the old value: its inserts have nowhere to go
    assert.equal(ds.Value, 5);
  });

  test("another realm's objects are tables too, as a save reads them", async () => {
    const { clock, server } = world();
    const ds = server().new("Player", 1);
    await within(clock, ds.Open());
    ds.Value = runInNewContext("({ Stats: { Level: 3 } })");
    ds.Reconcile({ Stats: { Level: 1, Xp: 0 }, Coins: 0 });
    assert.equal(ds.Value.Stats.Xp, 0, "filled in inside the other realm's object");
    assert.equal(ds.Value.Stats.Level, 3);
    assert.equal(ds.Value.Coins, 0);
  });

  test(`random values and templates (${CASES} pairs)`, async () => {
    const { clock, server } = world();
    const ds = server().new("Player", 1);
    await within(clock, ds.Open());
    for (let seed = FIRST_SEED; seed < FIRST_SEED + CASES; seed++) {
      const next = random(seed * 31);
      const template = valueOf(seed);
      const value = next() < 0.05 ? undefined : valueFrom(template, next, seed * 1000);
      let expected = value === undefined ? copy(template) : copy(value);
      if (value !== undefined && isTable(expected) && isTable(template)) expected = reconcile(expected, template);
      ds.Value = value;
      if (expected === CLASH) {
        // Refused before anything changes.
        const unchanged = copy(value);
        const clash = /would take the place of the array's element/;
        if (seed % 2 === 0) assert.throws(() => ds.Reconcile(template), clash, `seed ${seed}`);
        else {
          const [response, message] = await within(clock, ds.Open(template));
          assert.deepEqual([response, clash.test(message)], ["Error", true], `seed ${seed}: ${message}`);
        }
        assert.deepStrictEqual(ds.Value, unchanged, `seed ${seed}`);
        continue;
      }
      if (seed % 2 === 0) ds.Reconcile(template);
      else assert.deepEqual(await within(clock, ds.Open(template)), ["Success", undefined], `seed ${seed}`);
      assert.deepStrictEqual(ds.Value, expected, `seed ${seed}`);
    }
  });
});
