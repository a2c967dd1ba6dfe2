// The JS host's costs per session and per operation (issue 12): values go to the store as the
// exact text, whatever they hold; a session's empty Metadata and UserIds behave as tables made
// up front; the wasm memory grows in large steps, not 64 KiB at a time.
import assert from "node:assert/strict";
import { test } from "node:test";
import { createModule, ManualClock, MemoryStore } from "../../pkg/node.mjs";
import { initSync, wasmHeapInUse } from "../../pkg/web/datastore_module.js";

const START = Date.UTC(2026, 3, 1, 12, 0, 0);

/** Answers at once, keeps the locks and records every data write. */
class RecordingStore {
  writes = [];
  #locks = new Map();
  #entry = undefined;
  async dataGet() {
    return this.#entry;
  }
  async dataSet(name, scope, key, value, userIds, metadata) {
    this.writes.push({ value, userIds, metadata });
    this.#entry = { value, version: `v${this.writes.length}`, createdTime: 1, updatedTime: 2, userIds, metadata };
    return this.#entry.version;
  }
  async dataRemove() {}
  async lockAcquire(map, owner) {
    const holder = this.#locks.get(map);
    if (holder !== undefined && holder !== owner) return { ok: false, holder };
    this.#locks.set(map, owner);
    return { ok: true };
  }
  async lockRelease(map, owner) {
    if (this.#locks.get(map) === owner) this.#locks.delete(map);
  }
  async queueAdd() {}
  async queueRead() {
    return undefined;
  }
  async queueRemove() {}
}

test("a save hands the store the value, user ids and metadata as their exact JSON texts", async () => {
  const store = new RecordingStore();
  const module = createModule({ store });
  const ds = module.new("Player", 1);
  assert.equal((await ds.Open())[0], "Success");
  // Strings whose JSON holds escapes, line breaks (raw ones are never in JSON text), quotes,
  // and text outside the BMP; the texts travel next to the command, not inside it.
  const value = { Note: 'line 1\nline 2\r\n\t"quoted" \\ \u2028 \u{1F600} é', Nested: [{ a: "\n" }, -1.5, true] };
  ds.Value = value;
  ds.UserIds = [42, 7];
  ds.Metadata.Note = "x\ny";
  assert.deepEqual(await ds.Save(), ["Saved", value]);
  assert.deepEqual(store.writes, [{ value: JSON.stringify(value), userIds: "[42,7]", metadata: '{"Note":"x\\ny"}' }]);
  // And it loads back the same.
  assert.equal((await ds.Close())[0], "Saved");
  const reader = createModule({ store });
  const again = reader.new("Player", 1);
  assert.equal((await again.Open())[0], "Success");
  assert.deepEqual(again.Value, value);
  assert.deepEqual(again.UserIds, [42, 7]);
  assert.deepEqual(again.Metadata, { Note: "x\ny" });
  await reader.BindToClose();
});

test("empty Metadata and UserIds are the same tables on every read, and changes to them are saved", async () => {
  const store = new RecordingStore();
  const module = createModule({ store });
  const ds = module.new("Player", 2);
  assert.equal((await ds.Open())[0], "Success");
  const metadata = ds.Metadata;
  const userIds = ds.UserIds;
  assert.deepEqual([metadata, userIds], [{}, []]);
  assert.equal(ds.Metadata, metadata);
  assert.equal(ds.UserIds, userIds);
  ds.Value = { Coins: 1 };
  assert.equal((await ds.Save())[0], "Saved");
  assert.deepEqual(store.writes.at(-1), { value: '{"Coins":1}', userIds: "[]", metadata: "{}" });
  metadata.Tag = "set in place";
  userIds.push(9);
  assert.equal((await ds.Save())[0], "Saved");
  assert.deepEqual(store.writes.at(-1), { value: '{"Coins":1}', userIds: "[9]", metadata: '{"Tag":"set in place"}' });
  assert.equal(ds.Metadata, metadata);
  // A new table assigned is the one read and saved.
  ds.Metadata = { Other: 1 };
  assert.deepEqual(ds.Metadata, { Other: 1 });
  assert.equal((await ds.Save())[0], "Saved");
  assert.equal(store.writes.at(-1).metadata, '{"Other":1}');
  await module.BindToClose();
});

test("wasm memory grows in large steps, not 64 KiB at a time", async () => {
  const { memory } = initSync({ module: new Uint8Array(0) });
  const clock = new ManualClock(START);
  const module = createModule({ store: new MemoryStore({ clock }), clock });
  const sizes = new Set([memory.buffer.byteLength]);
  const before = wasmHeapInUse();
  const sessions = [];
  for (let i = 0; i < 4000; i++) {
    const ds = module.new("Player", i);
    ds.SaveInterval = 1000;
    ds.LockInterval = 1000;
    sessions.push(ds);
    sizes.add(memory.buffer.byteLength);
  }
  const held = wasmHeapInUse() - before;
  // The sessions hold megabytes; with dlmalloc's own 64 KiB steps that was one growth per 64 KiB.
  assert.ok(held > 2 * 1024 * 1024, `the sessions hold ${held} bytes`);
  assert.ok(sizes.size <= 8, `the memory took ${sizes.size} sizes while the sessions took ${held} bytes`);
  await Promise.all(sessions.map((ds) => ds.Destroy()));
});
