// What a session saves is what the next load gives back, or the save is refused: nothing is
// changed on the way (issue 10). Through the public API, on a MemoryStore with a ManualClock;
// two modules on one store are two Roblox servers.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { world, within } from "./helpers/world.mjs";

const COMPRESSED = '{"Compress":{"Level":2,"Decimals":3,"Safety":true}}';

/** The stored entry's value as JSON text. */
const storedText = async (store, key = "1") => (await store.dataGet("Player", "global", key))?.value;

/** Saves `value` from one server (with `Metadata`), then loads it on another. */
async function saveAndLoad(value, metadata = {}) {
  const { store, server } = world();
  const writer = server().new("Player", 1);
  assert.deepEqual(await writer.Open(), ["Success", undefined]);
  writer.Metadata = metadata;
  writer.Value = value;
  assert.equal((await writer.Close())[0], "Saved");
  const reader = server().new("Player", 1);
  assert.deepEqual(await reader.Read(), ["Success", undefined]);
  return { store, loaded: reader.Value };
}

describe("values survive a save and a load", () => {
  test("an empty array stays an array with Metadata.Compress, at both Levels; {} stays {}", async () => {
    for (const Level of [1, 2]) {
      const { store, loaded } = await saveAndLoad(
        { Inventory: [], Bag: {}, Coins: 1 },
        { Compress: { Level, Decimals: 3, Safety: true } },
      );
      assert.equal(JSON.parse(await storedText(store)), "*#Inventory\x7f|\x7f#Bag\x7f*\x7f#Coins\x7f>1\x7f");
      assert.deepEqual(loaded, { Inventory: [], Bag: {}, Coins: 1 });
      assert.ok(Array.isArray(loaded.Inventory), `Level ${Level}: Inventory is an array`);
    }
  });

  test("-0 is kept, with and without compression", async () => {
    const plain = await saveAndLoad({ z: -0, list: [0, -0] });
    assert.equal(await storedText(plain.store), '{"z":-0,"list":[0,-0]}');
    assert.ok(Object.is(plain.loaded.z, -0) && Object.is(plain.loaded.list[1], -0));
    assert.ok(Object.is(plain.loaded.list[0], 0));
    const compressed = await saveAndLoad({ z: -0 }, { Compress: {} });
    assert.equal(JSON.parse(await storedText(compressed.store)), "*#z\x7f<0\x7f");
    assert.ok(Object.is(compressed.loaded.z, -0));
    // A top-level -0, and -0 in a template.
    assert.ok(Object.is((await saveAndLoad(-0)).loaded, -0));
    const { server } = world();
    const ds = server().new("Player", 1);
    await ds.Open({ t: -0 });
    assert.ok(Object.is(ds.Value.t, -0));
    ds.Reconcile({ u: -0 });
    assert.ok(Object.is(ds.Value.u, -0));
    assert.ok(Object.is(ds.Clone().u, -0));
  });
});

describe("__proto__ and constructor in data are plain keys", () => {
  const template = () => JSON.parse('{"__proto__":{"x":1},"constructor":{"y":2},"Coins":0}');

  for (const how of ["Reconcile", "Open on an open session"]) {
    test(`${how}: the template's keys become own properties; saves answer Saved and store them`, async () => {
      const { clock, store, server } = world();
      const ds = server().new("Player", 1);
      await ds.Open();
      ds.Value = { Nested: {} };
      const live = ds.Value;
      if (how === "Reconcile") {
        ds.Reconcile(template());
        ds.Reconcile({ Nested: template() });
      } else {
        assert.deepEqual(await ds.Open(template()), ["Success", undefined]);
        assert.deepEqual(await ds.Open({ Nested: template() }), ["Success", undefined]);
      }
      assert.equal(ds.Value, live, "filled in place");
      for (const object of [live, live.Nested]) {
        assert.equal(Object.getPrototypeOf(object), Object.prototype, "the prototype is untouched");
        assert.ok(Object.hasOwn(object, "__proto__") && Object.hasOwn(object, "constructor"));
        assert.equal(object.x, undefined);
        assert.deepEqual(JSON.parse(JSON.stringify(object.__proto__)), { x: 1 });
      }
      assert.deepEqual(await within(clock, ds.Save(), 1), ["Saved", live]);
      const text = await storedText(store);
      assert.match(text, /^\{"Nested":\{"__proto__":\{"x":1\},"constructor":\{"y":2\},"Coins":0\},"__proto__":/);
      const clone = ds.Clone();
      assert.equal(Object.getPrototypeOf(clone), Object.prototype);
      assert.ok(Object.hasOwn(clone, "__proto__"));
      // And it loads back as data on another server.
      await ds.Close();
      const reader = server().new("Player", 1);
      await reader.Read();
      assert.ok(Object.hasOwn(reader.Value, "__proto__"));
      assert.equal(Object.getPrototypeOf(reader.Value), Object.prototype);
      assert.equal(JSON.stringify(reader.Value), text);
    });
  }
});

describe("what would change on the way is refused: Error, nothing written", () => {
  async function refused(setUp, pattern) {
    const { clock, store, server } = world();
    const ds = server().new("Player", 1);
    await ds.Open();
    ds.Value = { good: 0 };
    assert.equal((await ds.Save())[0], "Saved");
    const before = await storedText(store);
    setUp(ds);
    const [response, message] = await within(clock, ds.Save(), 1);
    assert.equal(response, "Error");
    assert.match(message, pattern);
    assert.equal(await storedText(store), before, "nothing was written");
    assert.equal(ds.State, true);
  }

  test("an array with a named property, with and without compression", async () => {
    for (const metadata of [{}, { Compress: {} }]) {
      await refused((ds) => {
        const inventory = ["Sword"];
        inventory.equipped = 0;
        ds.Metadata = metadata;
        ds.Value = { Inventory: inventory };
      }, /^Value\.Inventory\.equipped: an array's named property cannot be stored/);
    }
  });

  test("Metadata.Compress.Decimals that no number is, or whose scale leaves no digits", async () => {
    for (const [Decimals, message] of [
      ["many", /Metadata\.Compress\.Decimals must be a number, got a string that is not one/],
      [400, /^Value\.x: 1\.5 cannot be stored with this Decimals setting/],
    ]) {
      await refused((ds) => {
        ds.Metadata = { Compress: { Decimals } };
        ds.Value = { x: 1.5 };
      }, message);
    }
  });
});

describe("D17: a stored record that does not decode", () => {
  // 12345 is `>Z&1`; the original read this cut-off record as { Coins: 61 } and saved that.
  const cut = JSON.stringify("*#Coins\x7f>Z");

  /** A store holding the cut-off record, and what `method` of a session of it answered. */
  async function load(method) {
    const { clock, store, server } = world();
    await store.dataSet("Player", "global", "1", cut, "[]", COMPRESSED, null);
    const ds = server().new("Player", 1);
    const [response, message] = await within(clock, ds[method]({ Coins: 0 }));
    assert.equal(response, "Error");
    assert.match(message, /corrupt compressed data at byte 10: the text ends before the outermost table is closed/);
    assert.equal(ds.Value, undefined, "nothing installed");
    return { clock, store, server, ds };
  }

  test("Open answers Error and does not open; the record is left as it was", async () => {
    const { clock, store, server, ds } = await load("Open");
    assert.equal(ds.State, false);
    assert.deepEqual(await ds.Save(), ["State", "Closed"]);
    assert.deepEqual(await ds.Close(), ["Success", undefined]);
    const entry = await store.dataGet("Player", "global", "1");
    assert.equal(entry.value, cut);
    assert.equal(entry.metadata, COMPRESSED);
    // The lock was released: another server gets the same answer, not Locked.
    assert.equal((await within(clock, server().new("Player", 1).Open()))[0], "Error");
  });

  test("Read answers Error too, and installs nothing", async () => {
    const { store } = await load("Read");
    assert.equal((await store.dataGet("Player", "global", "1")).value, cut);
  });
});

describe("a record a JS object cannot hold whole", () => {
  // A Luau server's compressed save keeps key types: Bag has the keys "true" and true, which a
  // JS object would hold as one property, and a save would then store Bag without the other.
  const stored = JSON.stringify("*#Coins\x7f>5#Bag\x7f*#true\x7f++<o8\x7f\x7f");

  for (const method of ["Open", "Read"]) {
    test(`${method} answers Error naming the table; the record is left as it was`, async () => {
      const { clock, store, server } = world();
      await store.dataSet("Player", "global", "1", stored, "[]", COMPRESSED, null);
      const ds = server().new("Player", 1);
      assert.deepEqual(await within(clock, ds[method]()), [
        "Error",
        'the stored value cannot be loaded here: Value.Bag: two keys of this table are both written "true" in JSON, so one would overwrite the other',
      ]);
      assert.equal(ds.Value, undefined, "nothing installed");
      assert.equal(ds.State, false);
      assert.deepEqual(await ds.Close(), ["Success", undefined]);
      assert.equal((await store.dataGet("Player", "global", "1")).value, stored);
    });
  }

  test("where the template makes such a table, the answer says so", async () => {
    // Luau's reconcile adds the string key "1" beside the array's element 1.
    const { clock, store, server } = world();
    await store.dataSet("Player", "global", "1", '{"Bag":["Sword"]}', "[]", "{}", null);
    const ds = server().new("Player", 1);
    assert.deepEqual(await within(clock, ds.Open({ Bag: { 1: "Stick" } })), [
      "Error",
      'the stored value with the template cannot be loaded here: Value.Bag: two keys of this table are both written "1" in JSON, so one would overwrite the other',
    ]);
    assert.equal(ds.State, false);
    assert.deepEqual(await within(clock, ds.Open({ Bag: { 0: "Stick" } })), ["Success", undefined]);
    assert.deepStrictEqual(ds.Value, { Bag: { 0: "Stick", 1: "Sword" } });
  });
});
