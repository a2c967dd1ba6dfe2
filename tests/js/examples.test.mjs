// The seed README examples (shared/spec/original-readme.md), in JS, on a MemoryStore with a
// ManualClock: two modules on one store are two Roblox servers.
import assert from "node:assert/strict";
import { test } from "node:test";
import { createModule, ManualClock, MemoryStore, Response } from "../../pkg/index.mjs";

function world() {
  const clock = new ManualClock();
  const store = new MemoryStore({ clock });
  const server = () => createModule({ store, clock });
  return { clock, store, server };
}

const template = () => ({ Level: 0, Coins: 0, Inventory: [], DeveloperProducts: {} });

test("simple example: open, set, destroy saves; StateChanged reports each state", async () => {
  const { server } = world();
  const DataStoreModule = server();
  const dataStore = DataStoreModule.new("Name", "Key");
  const states = [];
  dataStore.StateChanged.Connect((state) => states.push(state));
  const [response, data] = await dataStore.Open();
  assert.equal(response, "Success");
  assert.equal(data, undefined);
  dataStore.Value = "Hello world!";
  const [destroyed, saved] = await dataStore.Destroy();
  assert.equal(destroyed, "Saved");
  assert.equal(saved, "Hello world!");
  assert.deepEqual(states, [true, null]);
  assert.equal(dataStore.State, null);
  // Another server reads what was saved.
  const reader = server().new("Name", "Key");
  assert.deepEqual(await reader.Read(), ["Success", undefined]);
  assert.equal(reader.Value, "Hello world!");
});

test("load example: Read without opening, then Destroy without saving", async () => {
  const { server } = world();
  const writer = server().new("Name", "Key");
  await writer.Open();
  writer.Value = { Saved: 1 };
  await writer.Close();
  const dataStore = server().new("Name", "Key");
  assert.equal((await dataStore.Read())[0], Response.Success);
  assert.deepEqual(dataStore.Value, { Saved: 1 });
  assert.deepEqual(await dataStore.Destroy(), ["Success", undefined]);
});

test("player data example: Open(template) reconciles, find returns the session, numeric keys", async () => {
  const { server } = world();
  const DataStoreModule = server();
  const dataStore = DataStoreModule.new("Player", 456056545);
  assert.equal(dataStore.Id, "Player/global/456056545");
  assert.equal(dataStore.Key, 456056545);
  assert.equal((await dataStore.Open(template()))[0], "Success");
  assert.equal(DataStoreModule.find("Player", "456056545"), dataStore);
  assert.equal(DataStoreModule.find("Player", 456056545), dataStore);
  assert.equal(dataStore.State, true);
  dataStore.Value.Level += 1;
  assert.deepEqual(await dataStore.Save(), ["Saved", dataStore.Value]);
  await dataStore.Destroy();
  assert.equal(DataStoreModule.find("Player", 456056545), undefined);
  const again = server().new("Player", 456056545);
  await again.Open(template());
  assert.equal(again.Value.Level, 1);
});

test("developer products example: grant only when the save says Saved", async () => {
  const { server } = world();
  const DataStoreModule = server();
  const dataStore = DataStoreModule.new("Player", 1);
  await dataStore.Open(template());
  const productId = String(1234);
  dataStore.Value.DeveloperProducts[productId] = (dataStore.Value.DeveloperProducts[productId] ?? 0) + 1;
  const [response] = await dataStore.Save();
  assert.equal(response, "Saved");
  const other = server().new("Player", 1);
  // The key is locked by the first server: reading still sees the granted product.
  await other.Read();
  assert.equal(other.Value.DeveloperProducts["1234"], 1);
});

test("automatic retry example: a closed session re-opens once the other server leaves", async () => {
  const { clock, server } = world();
  const a = server().new("Player", 7);
  await a.Open(template());
  const b = server().new("Player", 7);
  const [locked, holder] = await b.Open(template());
  assert.equal(locked, "Locked");
  assert.equal(holder, a.UniqueId);
  let opened = false;
  (async () => {
    while (b.State === false) {
      if ((await b.Open(template()))[0] !== "Success") await new Promise((r) => clock.setTimeout(r, 6000));
    }
    opened = true;
  })();
  await clock.advance(12_000);
  assert.equal(opened, false);
  await a.Destroy();
  await clock.advance(12_000);
  assert.equal(opened, true);
  assert.equal(b.State, true);
});

test("leaderstats example: custom fields live on the session object", async () => {
  const { server } = world();
  const dataStore = server().new("Player", 9);
  const leaderstats = { Level: { Value: 0 }, Coins: { Value: 0 } };
  dataStore.Leaderstats = leaderstats;
  dataStore.StateChanged.Connect((state, ds) => {
    if (state !== true) return;
    for (const name of ["Level", "Coins"]) ds.Leaderstats[name].Value = ds.Value[name];
  });
  await dataStore.Open({ ...template(), Coins: 5 });
  assert.equal(dataStore.Leaderstats, leaderstats);
  assert.equal(leaderstats.Coins.Value, 5);
  assert.throws(() => (dataStore.Open = 1), { name: "TypeError", message: "Attempt to modify a readonly value" });
  assert.throws(() => (dataStore.StateChanged = 1), TypeError);
});

test("compression example: CompressedValue holds the original's bytes after a save", async () => {
  const { server } = world();
  const dataStore = server().new("name", "key");
  await dataStore.Open();
  dataStore.Metadata.Compress = { Level: 2, Decimals: 3, Safety: true };
  dataStore.Value = {
    Number: 1234567891234.987,
    String: "Hello World!",
    Array: [1234567891234567, 2345678912345678, 3456789123456789, 4567891234567891, 5678912345678912],
  };
  assert.equal((await dataStore.Save())[0], "Saved");
  assert.equal(
    dataStore.CompressedValue,
    "*#Number\x7f)hLy&yaFJ#String\x7f#Hello World!\x7f#Array\x7f|>cGy&yaFJ>e~i~{QA31>4YzarcwI1>v{GMPQr22>mrCnt=mH2\x7f\x7f",
  );
  const [characters, fraction] = dataStore.Usage();
  assert.equal(characters, JSON.stringify(dataStore.CompressedValue).length);
  assert.ok(fraction > 0 && fraction < 0.001);
  await dataStore.Close();
  const reader = server().new("name", "key");
  await reader.Read();
  assert.equal(reader.Value.Number, 1234567891234.987);
  assert.deepEqual(reader.Metadata.Compress, { Level: 2, Decimals: 3, Safety: true });
});

function giveCoinsFor(DataStoreModule) {
  return async function GiveCoins(userId, amount) {
    const dataStore = DataStoreModule.find("Player", userId) ?? DataStoreModule.hidden("Player", userId);
    const [response] = await dataStore.Open(template());
    if (response === "Success") {
      dataStore.Value.Coins += amount;
    } else if (response === "Locked") {
      return (await dataStore.Queue(amount, 3888000))[0] === "Success";
    } else {
      return false;
    }
    return dataStore.Hidden === false || (await dataStore.Destroy())[0] === "Saved";
  };
}

async function queueScenario(processQueue) {
  const { clock, server } = world();
  const serverA = server();
  const serverB = server();
  const dataStore = serverA.new("Player", "456056545");
  assert.equal((await dataStore.Open(template()))[0], "Success");
  dataStore.ProcessQueue.Connect(processQueue);
  assert.equal(await giveCoinsFor(serverB)("456056545", 10), true);
  await clock.advance(40_000);
  assert.equal(dataStore.Value.Coins, 10);
  await dataStore.Destroy();
  const check = serverB.new("Player", "456056545");
  await check.Read();
  assert.equal(check.Value.Coins, 10, "the coins were saved");
  // Delivered once: after a long wait nothing more arrives.
  const again = serverB.new("Player", "456056545");
  await again.Open(template());
  let extra = 0;
  again.ProcessQueue.Connect((id, values) => (extra += values.length));
  await clock.advance(120_000);
  assert.equal(extra, 0);
}

test("queue example: GiveCoins from another server reaches the owner through ProcessQueue", async () => {
  await queueScenario(async (id, values, dataStore) => {
    if ((await dataStore.Remove(id))[0] !== "Success") return;
    for (const value of values) dataStore.Value.Coins += value;
  });
});

test("safer ProcessQueue example 1: remove, apply, save", async () => {
  await queueScenario(async (id, values, dataStore) => {
    if ((await dataStore.Remove(id))[0] !== "Success") return;
    for (const value of values) dataStore.Value.Coins += value;
    if ((await dataStore.Save())[0] === "Saved") return;
    for (const value of values) {
      if ((await dataStore.Queue(value, 3888000))[0] === "Success") dataStore.Value.Coins -= value;
    }
  });
});

test("safer ProcessQueue example 2: apply, save, then remove", async () => {
  await queueScenario(async (id, values, dataStore) => {
    for (const value of values) dataStore.Value.Coins += value;
    if ((await dataStore.Save())[0] !== "Saved") {
      for (const value of values) dataStore.Value.Coins -= value;
      return;
    }
    if ((await dataStore.Remove(id))[0] === "Success") return;
    for (const value of values) dataStore.Value.Coins -= value;
    await dataStore.Save();
  });
});
