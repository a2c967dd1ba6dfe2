// The store conformance suite: every store passes the same tests, because the module's driver
// runs unchanged on any of them. `conformance(kind, maker)` declares the suite for one kind of
// store: `maker.make()` gives a fresh pair of servers on one storage for each test (`a` and `b`,
// with `now`, `wait`, `poll` and `close`; `realTime` makes such a pair in real time), and the
// optional `maker.setup()`/`maker.teardown()` run before and after the kind's tests. Time:
// virtual for MemoryStore, real (short TTLs, short waits) for the others. stores.test.mjs runs it
// on every store; redis-cluster.test.mjs on RedisStore over a real Redis Cluster.
import assert from "node:assert/strict";
import { after, afterEach, before, beforeEach, describe, test } from "node:test";
import { rejectsWith } from "./rejects.mjs";

const realWait = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const PENDING = Symbol("pending");

/** The promise's outcome if it has settled after the queued work ran, else PENDING. */
async function peek(promise) {
  const marker = new Promise((resolve) => setImmediate(() => resolve(PENDING)));
  return Promise.race([promise, marker]);
}

/** Acquisition 1's token (tokens are acquisition × 2^32 + renewal, src/fence.rs). */
const ACQ = 2 ** 32;

/** The fence of `owner`'s write number `seq` under the acquisition of `token`. */
const fence = (owner, seq, token = ACQ) => ({ owner, token, seq });

let counter = 0;
/** A name no other test uses (stores are shared across tests on Redis). */
const fresh = (label) => `${label}-${process.pid}-${++counter}`;

/**
 * Two servers on one real store, `open(options)` making each, in real time (short TTLs, short
 * waits; a waiting read looks every 100 ms); `cleanUp` after both have closed.
 */
export function realTime(open, cleanUp) {
  const a = open({ pollMs: 100 });
  const b = open({ pollMs: 100 });
  return {
    a,
    b,
    now: () => Date.now(),
    wait: realWait,
    poll: 250,
    async close() {
      await a.close();
      await b.close();
      cleanUp?.();
    },
  };
}

/**
 * The suite for one kind of store.
 * @param {string} kind the suite's name (`${kind} conformance`)
 * @param {{ make(): Promise<object>, setup?(): Promise<void>, teardown?(): Promise<void> }} maker
 */
export function conformance(kind, maker) {
  describe(`${kind} conformance`, () => {
    /** @type {Awaited<ReturnType<typeof maker.make>>} */
    let env;
    before(async () => maker.setup?.());
    after(async () => maker.teardown?.());
    beforeEach(async () => {
      env = await maker.make();
    });
    afterEach(async () => {
      await env.close();
    });

    // ---- data -------------------------------------------------------------------------------

    describe("data", () => {
      test("a missing key reads as undefined", async () => {
        assert.equal(await env.a.dataGet("Players", "global", fresh("missing")), undefined);
      });

      test("a write reads back with its value, user ids, metadata and KeyInfo", async () => {
        const key = fresh("k");
        const before = env.now();
        const version = await env.a.dataSet(
          "Players",
          "global",
          key,
          '{"Coins":10,"Items":["Sword"],"Name":"é☃𝄞"}',
          "[42,7]",
          '{"Compress":{"Level":2}}',
          null,
        );
        const after = env.now();
        assert.equal(typeof version, "string");
        assert.ok(version.length > 0);
        const got = await env.a.dataGet("Players", "global", key);
        assert.deepEqual(JSON.parse(got.value), { Coins: 10, Items: ["Sword"], Name: "é☃𝄞" });
        assert.deepEqual(JSON.parse(got.userIds), [42, 7]);
        assert.deepEqual(JSON.parse(got.metadata), { Compress: { Level: 2 } });
        assert.equal(got.version, version);
        assert.ok(got.createdTime >= before && got.createdTime <= after, "createdTime is the write's time");
        assert.equal(got.updatedTime, got.createdTime);
        for (const field of ["value", "userIds", "metadata", "version"])
          assert.equal(typeof got[field], "string", field);
      });

      test("every write makes a new, greater version and replaces user ids and metadata", async () => {
        const key = fresh("k");
        const v1 = await env.a.dataSet("Players", "global", key, "1", "[1]", '{"a":1}', null);
        const first = await env.a.dataGet("Players", "global", key);
        await env.wait(20);
        const v2 = await env.a.dataSet("Players", "global", key, "2", "[]", "{}", null);
        const second = await env.a.dataGet("Players", "global", key);
        assert.notEqual(v2, v1);
        assert.ok(v2 > v1, `${v2} > ${v1}`);
        assert.equal(second.version, v2);
        assert.equal(second.value, "2");
        assert.deepEqual(JSON.parse(second.userIds), []);
        assert.deepEqual(JSON.parse(second.metadata), {});
        assert.equal(second.createdTime, first.createdTime, "CreatedTime stays");
        assert.ok(second.updatedTime > first.updatedTime, "UpdatedTime moves");
        const v3 = await env.a.dataSet("Players", "global", key, "2", "[]", "{}", null);
        assert.ok(v3 > v2, "even an identical write is a new version");
      });

      test("remove deletes the key; removing again does nothing; a later write creates it anew", async () => {
        const key = fresh("k");
        const v1 = await env.a.dataSet("Players", "global", key, '"x"', "[]", "{}", null);
        const created = (await env.a.dataGet("Players", "global", key)).createdTime;
        await env.wait(20);
        assert.equal(await env.a.dataRemove("Players", "global", key, null), undefined);
        assert.equal(await env.a.dataGet("Players", "global", key), undefined);
        await env.a.dataRemove("Players", "global", key, null);
        await env.a.dataRemove("Players", "global", fresh("never"), null);
        await env.wait(20);
        const v2 = await env.a.dataSet("Players", "global", key, '"y"', "[]", "{}", null);
        const again = await env.a.dataGet("Players", "global", key);
        assert.equal(again.value, '"y"');
        assert.ok(again.createdTime > created, "a write after a remove creates the key anew");
        assert.ok(v2 > v1);
      });

      test("a read sees every write another server finished before it", async () => {
        const key = fresh("k");
        for (let i = 0; i < 25; i++) {
          await env.b.dataSet("Players", "global", key, String(i), "[]", "{}", null);
          assert.equal((await env.a.dataGet("Players", "global", key))?.value, String(i));
          await env.a.dataRemove("Players", "global", key, null);
          assert.equal(await env.b.dataGet("Players", "global", key), undefined);
        }
      });

      test("name, scope and key are separate: no two of them share a record", async () => {
        const key = fresh("k");
        await env.a.dataSet("A/B", "c", key, "1", "[]", "{}", null);
        await env.a.dataSet("A", "B/c", key, "2", "[]", "{}", null);
        await env.a.dataSet("A", "B", `c/${key}`, "3", "[]", "{}", null);
        assert.equal((await env.a.dataGet("A/B", "c", key)).value, "1");
        assert.equal((await env.a.dataGet("A", "B/c", key)).value, "2");
        assert.equal((await env.a.dataGet("A", "B", `c/${key}`)).value, "3");
      });

      test("bad requests are refused as InvalidRequest", async () => {
        await rejectsWith(env.a.dataSet("Players", "global", "", "1", "[]", "{}", null), "InvalidRequest");
        await rejectsWith(env.a.dataGet("Players", "global", "k".repeat(51)), "InvalidRequest");
        await rejectsWith(env.a.dataGet("", "global", "k"), "InvalidRequest");
        await rejectsWith(env.a.dataSet("Players", "global", "k", "null", "[]", "{}", null), "InvalidRequest");
        await rejectsWith(
          env.a.dataSet("Players", "global", "k", { Coins: 1 }, "[]", "{}", null),
          "InvalidRequest",
          /JSON text/,
        );
        await rejectsWith(env.a.dataSet("Players", "global", "k", "1", "[]", "{}", 42), "InvalidRequest", /fence/);
        await rejectsWith(env.a.dataGet("Players", "global", 7), "InvalidRequest", /key must be a string/);
        // Raw, not escaped: stored, it read back as U+FFFD (LMDB: three of them).
        await rejectsWith(
          env.a.dataSet("Players", "global", "k", '"a\ud800b"', "[]", "{}", null),
          "InvalidRequest",
          /value has an unpaired surrogate/,
        );
        await rejectsWith(env.a.queueAdd("q", '"\udc00"', 60, 0), "InvalidRequest", /value has an unpaired surrogate/);
        const big = JSON.stringify("x".repeat(4_194_304));
        await rejectsWith(env.a.dataSet("Players", "global", "k", big, "[]", "{}", null), "InvalidRequest", /4194304/);
      });

      test("user ids and metadata Roblox refuses (511-513) are refused as InvalidRequest", async () => {
        // LMDB, Redis and PostgreSQL stored them: five user ids, an id of 1.5, 400 characters
        // of metadata; and `{}` as user ids as it was, after which no load of the key read it.
        const set = (userIds, metadata) => env.a.dataSet("Players", "global", "k", "1", userIds, metadata, null);
        const cases = [
          ["[1,2,3,4,5]", "{}", /4/],
          ["[1.5]", "{}", /userId/],
          ['["1"]', "{}", /userId|numbers/],
          ["[]", "[1]", /metadata/],
          ["[]", JSON.stringify({ ["k".repeat(51)]: 1 }), /50/],
          ["[]", JSON.stringify({ Note: "x".repeat(251) }), /250/],
          ["[]", JSON.stringify({ a: "x".repeat(200), b: "x".repeat(200) }), /300/],
        ];
        for (const [userIds, metadata, message] of cases) {
          await rejectsWith(set(userIds, metadata), "InvalidRequest", message);
        }
        await set("[1,2,3,4]", JSON.stringify({ Note: "x".repeat(200) }));
        const got = await env.a.dataGet("Players", "global", "k");
        assert.deepEqual([got.userIds, JSON.parse(got.metadata).Note.length], ["[1,2,3,4]", 200]);
        // An empty table is either shape, and is stored as the one a load reads.
        await set("{}", "[]");
        const empty = await env.a.dataGet("Players", "global", "k");
        assert.deepEqual([empty.userIds, empty.metadata], ["[]", "{}"]);
      });

      test("every argument of every method is type-checked first, by name", async () => {
        const good = {
          dataGet: ["Players", "global", "k"],
          dataSet: ["Players", "global", "k", "1", "[]", "{}", fence("OWNER", 1)],
          dataRemove: ["Players", "global", "k", fence("OWNER", 1)],
          lockAcquire: ["m", "OWNER", 10, ACQ + 1, true, ACQ],
          lockRelease: ["m", "OWNER", ACQ],
          queueAdd: ["q", "1", 10, 0],
          queueRead: ["q", 1, false, 0, 10, undefined],
          queueRemove: ["q", "id"],
        };
        if (typeof env.a.lockAcquireAndGet === "function") {
          good.lockAcquireAndGet = ["Players/global/k", "OWNER", 10, ACQ, "Players", "global", "k"];
        }
        const names = /^(?:async )?\w+\(([^)]*)\)/;
        for (const [method, args] of Object.entries(good)) {
          const params = env.a[method]
            .toString()
            .match(names)[1]
            .split(",")
            .map((p) => p.split("=")[0].trim());
          assert.equal(params.length, args.length, `${method}'s parameters`);
          for (let i = 0; i < args.length; i++) {
            const bad = args.with(i, { wrong: true });
            await rejectsWith(env.a[method](...bad), "InvalidRequest", new RegExp(`^${params[i]} must be`));
          }
        }
      });
    });

    // ---- locks ------------------------------------------------------------------------------

    describe("locks", () => {
      test("acquire a free lock, refresh it as its holder; anyone else is told the holder", async () => {
        const map = `Players/global/${fresh("k")}`;
        assert.deepEqual(await env.a.lockAcquire(map, "OWNER-A", 30, ACQ, false), { ok: true });
        assert.deepEqual(await env.a.lockAcquire(map, "OWNER-A", 30, ACQ, false), { ok: true });
        assert.deepEqual(await env.b.lockAcquire(map, "OWNER-B", 30, ACQ, false), { ok: false, holder: "OWNER-A" });
        assert.deepEqual(await env.a.lockAcquire(map, "OWNER-C", 30, ACQ, false), { ok: false, holder: "OWNER-A" });
      });

      test("a lock expires after its TTL; then another owner takes it", async () => {
        const map = `Players/global/${fresh("k")}`;
        assert.deepEqual(await env.a.lockAcquire(map, "OWNER-A", 0.3, ACQ, false), { ok: true });
        await env.wait(100);
        assert.deepEqual(await env.b.lockAcquire(map, "OWNER-B", 0.3, ACQ, false), { ok: false, holder: "OWNER-A" });
        await env.wait(300);
        assert.deepEqual(await env.b.lockAcquire(map, "OWNER-B", 30, ACQ, false), { ok: true });
        assert.deepEqual(await env.a.lockAcquire(map, "OWNER-A", 30, ACQ, false), { ok: false, holder: "OWNER-B" });
      });

      test("a refresh extends the lock from the time of the refresh", async () => {
        const map = `Players/global/${fresh("k")}`;
        await env.a.lockAcquire(map, "OWNER-A", 0.6, ACQ, false);
        await env.wait(400);
        assert.deepEqual(await env.a.lockAcquire(map, "OWNER-A", 0.6, ACQ, false), { ok: true });
        await env.wait(400);
        assert.deepEqual(
          await env.b.lockAcquire(map, "OWNER-B", 1, ACQ, false),
          { ok: false, holder: "OWNER-A" },
          "still held 800 ms after the first acquire",
        );
        await env.wait(400);
        assert.deepEqual(await env.b.lockAcquire(map, "OWNER-B", 1, ACQ, false), { ok: true });
      });

      test("release frees only its holder's lock, and is a no-op otherwise", async () => {
        const map = `Players/global/${fresh("k")}`;
        await env.a.lockRelease(map, "OWNER-A", ACQ); // nothing there
        await env.a.lockAcquire(map, "OWNER-A", 30, ACQ, false);
        await env.b.lockRelease(map, "OWNER-B", ACQ);
        assert.deepEqual(await env.b.lockAcquire(map, "OWNER-B", 30, ACQ, false), { ok: false, holder: "OWNER-A" });
        await env.a.lockRelease(map, "OWNER-A", ACQ);
        assert.deepEqual(await env.b.lockAcquire(map, "OWNER-B", 30, ACQ, false), { ok: true });
      });

      test("a TTL of 0 takes the lock and lets it go at once", async () => {
        const map = `Players/global/${fresh("k")}`;
        assert.deepEqual(await env.a.lockAcquire(map, "OWNER-A", 0, ACQ, false), { ok: true });
        assert.deepEqual(await env.b.lockAcquire(map, "OWNER-B", 30, ACQ, false), { ok: true });
      });

      test("owners racing for a free lock from two servers: exactly one wins", async () => {
        const map = `Players/global/${fresh("k")}`;
        const owners = Array.from({ length: 12 }, (_, i) => `OWNER-${i}`);
        const results = await Promise.all(
          owners.map((o, i) => (i % 2 ? env.a : env.b).lockAcquire(map, o, 30, ACQ, false)),
        );
        const winners = owners.filter((_, i) => results[i].ok);
        assert.equal(winners.length, 1, JSON.stringify(results));
        for (const r of results) if (!r.ok) assert.equal(r.holder, winners[0]);
      });

      test("a bad TTL is refused as InvalidRequest", async () => {
        await rejectsWith(env.a.lockAcquire("m", "o", -1, ACQ, false), "InvalidRequest", /expiration/);
        await rejectsWith(env.a.lockAcquire("m", "o", 3_888_001, ACQ, false), "InvalidRequest");
        await rejectsWith(env.a.lockAcquire("m", "o", Number.NaN, ACQ, false), "InvalidRequest");
        await rejectsWith(env.a.lockAcquire("m", "o", "30", ACQ, false), "InvalidRequest");
      });

      test("a bad token, renew, held or fence is refused as InvalidRequest, by name", async () => {
        for (const token of [-1, 1.5, 2 ** 53, Number.NaN, "1", null]) {
          await rejectsWith(env.a.lockAcquire("m", "o", 30, token, false), "InvalidRequest", /^token must be/);
          await rejectsWith(env.a.lockRelease("m", "o", token), "InvalidRequest", /^token must be/);
        }
        await rejectsWith(env.a.lockAcquire("m", "o", 30, ACQ, "yes"), "InvalidRequest", /^renew must be/);
        await rejectsWith(env.a.lockAcquire("m", "o", 30, ACQ, true, null), "InvalidRequest", /^held must be/);
        await rejectsWith(env.a.lockAcquire("m", "o", 30, ACQ, true, -1), "InvalidRequest", /^held must be/);
        const bad = [
          "OWNER",
          { owner: "OWNER", token: ACQ },
          { owner: 7, token: ACQ, seq: 1 },
          { owner: "OWNER", token: -1, seq: 1 },
          { owner: "OWNER", token: ACQ, seq: 0.5 },
          [],
        ];
        for (const f of bad) {
          await rejectsWith(env.a.dataSet("P", "global", "k", "1", "[]", "{}", f), "InvalidRequest", /^fence must be/);
          await rejectsWith(env.a.dataRemove("P", "global", "k", f), "InvalidRequest", /^fence must be/);
        }
      });
    });

    // ---- the lock table (src/fence.rs, D22): one test per cell --------------------------------

    describe("lock table", () => {
      const A2 = 2 * ACQ; // acquisition 2
      /** Whether the entry is `owner`'s with a token from `held` to `token`: a refresh writes. */
      const renews = async (map, owner, held, token) =>
        (await env.a.lockAcquire(map, owner, 30, token, true, held)).ok === true;

      test("acquire, entry absent: written", async () => {
        const map = `Players/global/${fresh("k")}`;
        assert.deepEqual(await env.a.lockAcquire(map, "OWNER-A", 30, ACQ, false), { ok: true });
        assert.deepEqual(await env.b.lockAcquire(map, "OWNER-B", 30, ACQ, false), { ok: false, holder: "OWNER-A" });
        assert.ok(await renews(map, "OWNER-A", ACQ, ACQ + 1), "the entry holds the token");
      });

      test("acquire, ours with a smaller token: written (the new token)", async () => {
        const map = `Players/global/${fresh("k")}`;
        await env.a.lockAcquire(map, "OWNER-A", 30, ACQ + 3, false);
        assert.deepEqual(await env.a.lockAcquire(map, "OWNER-A", 30, A2, false), { ok: true });
        assert.ok(await renews(map, "OWNER-A", A2, A2 + 1));
      });

      test("acquire, ours with the same token: written", async () => {
        const map = `Players/global/${fresh("k")}`;
        await env.a.lockAcquire(map, "OWNER-A", 30, ACQ, false);
        assert.deepEqual(await env.a.lockAcquire(map, "OWNER-A", 30, ACQ, false), { ok: true });
        assert.ok(await renews(map, "OWNER-A", ACQ, ACQ + 1));
      });

      test("acquire, ours with a larger token: Locked by ourselves, nothing written", async () => {
        const map = `Players/global/${fresh("k")}`;
        await env.a.lockAcquire(map, "OWNER-A", 30, A2, false);
        assert.deepEqual(await env.a.lockAcquire(map, "OWNER-A", 30, ACQ, false), { ok: false, holder: "OWNER-A" });
        assert.ok(await renews(map, "OWNER-A", A2, A2 + 1), "the newer acquisition's entry stands");
      });

      test("acquire, someone else's: Locked by them, nothing written", async () => {
        const map = `Players/global/${fresh("k")}`;
        await env.b.lockAcquire(map, "OWNER-B", 30, ACQ, false);
        assert.deepEqual(await env.a.lockAcquire(map, "OWNER-A", 30, A2, false), { ok: false, holder: "OWNER-B" });
        assert.ok(await renews(map, "OWNER-B", ACQ, ACQ + 1));
      });

      test("renew, entry absent: lapsed, nothing written", async () => {
        const map = `Players/global/${fresh("k")}`;
        assert.deepEqual(await env.a.lockAcquire(map, "OWNER-A", 30, ACQ + 1, true, ACQ), { ok: false, lapsed: true });
        assert.deepEqual(await env.b.lockAcquire(map, "OWNER-B", 30, ACQ, false), { ok: true }, "still free");
      });

      test("renew, ours with a token from held to the renewal's: written (the new token, a new TTL)", async () => {
        const map = `Players/global/${fresh("k")}`;
        await env.a.lockAcquire(map, "OWNER-A", 0.6, ACQ, false);
        await env.wait(400);
        assert.deepEqual(await env.a.lockAcquire(map, "OWNER-A", 0.6, ACQ + 1, true, ACQ), { ok: true });
        await env.wait(400);
        // An ambiguous refresh may or may not have written ACQ + 2: held names the last known.
        assert.deepEqual(await env.a.lockAcquire(map, "OWNER-A", 0.6, ACQ + 3, true, ACQ + 1), { ok: true });
        assert.deepEqual(await env.b.lockAcquire(map, "OWNER-B", 30, ACQ, false), { ok: false, holder: "OWNER-A" });
        assert.ok(await renews(map, "OWNER-A", ACQ + 3, ACQ + 3), "the entry holds ACQ + 3");
      });

      test("renew, ours with a token below held: lapsed, nothing written", async () => {
        const map = `Players/global/${fresh("k")}`;
        await env.a.lockAcquire(map, "OWNER-A", 30, ACQ, false);
        assert.deepEqual(await env.a.lockAcquire(map, "OWNER-A", 30, ACQ + 2, true, ACQ + 1), {
          ok: false,
          lapsed: true,
        });
        assert.ok(await renews(map, "OWNER-A", ACQ, ACQ), "the entry still holds ACQ");
      });

      test("renew, ours with a larger token (a newer acquisition): lapsed, nothing written", async () => {
        const map = `Players/global/${fresh("k")}`;
        await env.a.lockAcquire(map, "OWNER-A", 30, A2, false);
        assert.deepEqual(await env.a.lockAcquire(map, "OWNER-A", 30, ACQ + 1, true, ACQ), { ok: false, lapsed: true });
        assert.ok(await renews(map, "OWNER-A", A2, A2 + 1), "the newer acquisition's entry stands");
      });

      test("renew, someone else's: Locked by them, nothing written", async () => {
        const map = `Players/global/${fresh("k")}`;
        await env.b.lockAcquire(map, "OWNER-B", 30, A2, false);
        assert.deepEqual(await env.a.lockAcquire(map, "OWNER-A", 30, ACQ + 1, true, ACQ), {
          ok: false,
          holder: "OWNER-B",
        });
        assert.ok(await renews(map, "OWNER-B", A2, A2 + 1));
      });

      test("renew of an entry that expired: lapsed, and it is not re-created", async () => {
        const map = `Players/global/${fresh("k")}`;
        await env.a.lockAcquire(map, "OWNER-A", 0.2, ACQ, false);
        await env.wait(300);
        assert.deepEqual(await env.a.lockAcquire(map, "OWNER-A", 30, ACQ + 1, true, ACQ), { ok: false, lapsed: true });
        assert.deepEqual(await env.b.lockAcquire(map, "OWNER-B", 30, ACQ, false), { ok: true }, "nothing was written");
      });

      test("release, entry absent: nothing", async () => {
        const map = `Players/global/${fresh("k")}`;
        await env.a.lockRelease(map, "OWNER-A", ACQ);
        assert.deepEqual(await env.b.lockAcquire(map, "OWNER-B", 30, ACQ, false), { ok: true });
      });

      test("release, ours of the same acquisition (any renewal): deleted", async () => {
        const map = `Players/global/${fresh("k")}`;
        await env.a.lockAcquire(map, "OWNER-A", 30, ACQ, false);
        await env.a.lockAcquire(map, "OWNER-A", 30, ACQ + 5, true, ACQ);
        await env.a.lockRelease(map, "OWNER-A", ACQ + 2);
        assert.deepEqual(await env.b.lockAcquire(map, "OWNER-B", 30, ACQ, false), { ok: true });
      });

      test("release, ours of another acquisition: nothing (a late unlock cannot delete the next lock)", async () => {
        const map = `Players/global/${fresh("k")}`;
        await env.a.lockAcquire(map, "OWNER-A", 30, ACQ, false);
        await env.a.lockAcquire(map, "OWNER-A", 30, A2, false); // the session locked again
        await env.a.lockRelease(map, "OWNER-A", ACQ + 7); // the first acquisition's unlock, late
        assert.deepEqual(await env.b.lockAcquire(map, "OWNER-B", 30, ACQ, false), { ok: false, holder: "OWNER-A" });
        assert.ok(await renews(map, "OWNER-A", A2, A2 + 1), "the newer acquisition's entry stands");
        await env.a.lockRelease(map, "OWNER-A", A2);
        assert.deepEqual(await env.b.lockAcquire(map, "OWNER-B", 30, ACQ, false), { ok: true });
      });

      test("release, someone else's: nothing", async () => {
        const map = `Players/global/${fresh("k")}`;
        await env.b.lockAcquire(map, "OWNER-B", 30, ACQ, false);
        await env.a.lockRelease(map, "OWNER-A", ACQ);
        assert.deepEqual(await env.a.lockAcquire(map, "OWNER-A", 30, ACQ, false), { ok: false, holder: "OWNER-B" });
      });
    });

    // ---- acquire and read (optional) --------------------------------------------------------

    describe("lockAcquireAndGet (a store that reads in the acquiring request)", () => {
      const skip = () => typeof env.a.lockAcquireAndGet !== "function";
      const acquireAndGet = (store, key, owner, token) =>
        store.lockAcquireAndGet(`Players/global/${key}`, owner, 30, token, "Players", "global", key);

      test("a free lock is acquired and the key read after it, as dataGet reads it", async (t) => {
        if (skip()) return t.skip("the store does not offer it");
        const key = fresh("k");
        assert.deepEqual(await acquireAndGet(env.a, key, "OWNER-A", ACQ), { ok: true, entry: undefined });
        await env.a.dataSet("Players", "global", key, '{"Coins":3}', "[9]", '{"m":1}', fence("OWNER-A", ACQ));
        // The same acquisition again, by its owner: written, and the write is seen.
        const again = await acquireAndGet(env.a, key, "OWNER-A", ACQ);
        assert.equal(again.ok, true);
        assert.deepEqual(again.entry, await env.a.dataGet("Players", "global", key));
        assert.equal(again.entry.value, '{"Coins":3}');
        // It is an acquisition like lockAcquire's: the owner refreshes it, anyone else is told.
        assert.deepEqual(await env.a.lockAcquire(`Players/global/${key}`, "OWNER-A", 30, ACQ + 1, true, ACQ), {
          ok: true,
        });
        assert.deepEqual(await env.b.lockAcquire(`Players/global/${key}`, "OWNER-B", 30, ACQ, false), {
          ok: false,
          holder: "OWNER-A",
        });
      });

      test("a lock held by another, or by a newer acquisition, reads nothing", async (t) => {
        if (skip()) return t.skip("the store does not offer it");
        const key = fresh("k");
        await env.a.dataSet("Players", "global", key, "1", "[]", "{}", null);
        await env.b.lockAcquire(`Players/global/${key}`, "OWNER-B", 30, 2 * ACQ, false);
        assert.deepEqual(await acquireAndGet(env.a, key, "OWNER-A", ACQ), { ok: false, holder: "OWNER-B" });
        assert.deepEqual(await acquireAndGet(env.b, key, "OWNER-B", ACQ), { ok: false, holder: "OWNER-B" });
      });
    });

    // ---- fencing ----------------------------------------------------------------------------

    describe("fencing", () => {
      test("a fenced write by the lock's holder applies", async () => {
        const key = fresh("k");
        await env.a.lockAcquire(`Players/global/${key}`, "OWNER-A", 30, ACQ, false);
        await env.a.dataSet("Players", "global", key, "1", "[]", "{}", fence("OWNER-A", 1));
        assert.equal((await env.a.dataGet("Players", "global", key)).value, "1");
        await env.a.dataRemove("Players", "global", key, fence("OWNER-A", 2));
        assert.equal(await env.a.dataGet("Players", "global", key), undefined);
      });

      test("a write with no fence applies whoever holds the lock", async () => {
        const key = fresh("k");
        await env.a.lockAcquire(`Players/global/${key}`, "OWNER-A", 30, ACQ, false);
        await env.b.dataSet("Players", "global", key, "2", "[]", "{}", null);
        assert.equal((await env.a.dataGet("Players", "global", key)).value, "2");
        await env.b.dataRemove("Players", "global", key, null);
        assert.equal(await env.a.dataGet("Players", "global", key), undefined);
      });

      test("a session whose lock was taken over cannot write or remove; the new owner can", async () => {
        const key = fresh("k");
        const map = `Players/global/${key}`;
        await env.a.lockAcquire(map, "OWNER-A", 0.3, ACQ, false);
        await env.a.dataSet("Players", "global", key, '"A1"', "[]", "{}", fence("OWNER-A", 1));
        await env.wait(400);
        assert.deepEqual(await env.b.lockAcquire(map, "OWNER-B", 30, ACQ, false), { ok: true });
        await rejectsWith(
          env.a.dataSet("Players", "global", key, '"A2"', "[]", "{}", fence("OWNER-A", 2)),
          "Fenced",
          /OWNER-B/,
        );
        await rejectsWith(env.a.dataRemove("Players", "global", key, fence("OWNER-A", 3)), "Fenced");
        assert.equal(
          (await env.b.dataGet("Players", "global", key)).value,
          '"A1"',
          "the refused write changed nothing",
        );
        await env.b.dataSet("Players", "global", key, '"B1"', "[]", "{}", fence("OWNER-B", 1));
        assert.equal((await env.a.dataGet("Players", "global", key)).value, '"B1"');
      });

      test("a fenced write while nobody holds the lock (never taken, expired or released) is refused", async () => {
        const key = fresh("k");
        const map = `Players/global/${key}`;
        await rejectsWith(
          env.a.dataSet("Players", "global", key, "1", "[]", "{}", fence("OWNER-A", 1)),
          "Fenced",
          /not held/,
        );
        await env.a.lockAcquire(map, "OWNER-A", 0.2, ACQ, false);
        await env.wait(300);
        await rejectsWith(env.a.dataSet("Players", "global", key, "1", "[]", "{}", fence("OWNER-A", 2)), "Fenced");
        await env.a.lockAcquire(map, "OWNER-A", 30, ACQ, false);
        await env.a.lockRelease(map, "OWNER-A", ACQ);
        await rejectsWith(env.a.dataSet("Players", "global", key, "1", "[]", "{}", fence("OWNER-A", 3)), "Fenced");
        assert.equal(await env.a.dataGet("Players", "global", key), undefined);
      });

      test("a Fenced error is not retryable", async () => {
        const error = await env.a
          .dataSet("Players", "global", fresh("k"), "1", "[]", "{}", fence("X", 1))
          .catch((e) => e);
        assert.equal(error.kind, "Fenced");
        assert.equal(error.retryable, false);
      });

      test("a write of another acquisition of the same owner is refused; any renewal of this one applies", async () => {
        const key = fresh("k");
        const map = `Players/global/${key}`;
        await env.a.lockAcquire(map, "OWNER-A", 30, ACQ, false);
        await env.a.dataSet("Players", "global", key, '"first"', "[]", "{}", fence("OWNER-A", 1));
        await env.a.lockAcquire(map, "OWNER-A", 30, 2 * ACQ, false); // the session locked again
        await rejectsWith(
          env.a.dataSet("Players", "global", key, '"late"', "[]", "{}", fence("OWNER-A", 2, ACQ + 4)),
          "Fenced",
          /another acquisition of OWNER-A/,
        );
        await rejectsWith(env.a.dataRemove("Players", "global", key, fence("OWNER-A", 3, ACQ)), "Fenced");
        assert.equal((await env.a.dataGet("Players", "global", key)).value, '"first"');
        // The new acquisition's writes start their own sequence; its renewals all belong to it.
        await env.a.dataSet("Players", "global", key, '"second"', "[]", "{}", fence("OWNER-A", 1, 2 * ACQ + 9));
        assert.equal((await env.a.dataGet("Players", "global", key)).value, '"second"');
      });

      test("a write with an equal or older seq of the same acquisition is refused; a larger one applies", async () => {
        const key = fresh("k");
        await env.a.lockAcquire(`Players/global/${key}`, "OWNER-A", 30, ACQ, false);
        await env.a.dataSet("Players", "global", key, '"5"', "[]", "{}", fence("OWNER-A", 5));
        await rejectsWith(
          env.a.dataSet("Players", "global", key, '"5 again"', "[]", "{}", fence("OWNER-A", 5)),
          "Fenced",
          /newer write \(#5\)/,
        );
        await rejectsWith(env.a.dataSet("Players", "global", key, '"4"', "[]", "{}", fence("OWNER-A", 4)), "Fenced");
        await rejectsWith(env.a.dataRemove("Players", "global", key, fence("OWNER-A", 3)), "Fenced");
        assert.equal((await env.a.dataGet("Players", "global", key)).value, '"5"');
        await env.a.dataSet("Players", "global", key, '"6"', "[]", "{}", fence("OWNER-A", 6, ACQ + 1));
        assert.equal((await env.a.dataGet("Players", "global", key)).value, '"6"');
        // An unfenced write leaves the mark as it was.
        await env.b.dataSet("Players", "global", key, '"free"', "[]", "{}", null);
        await rejectsWith(env.a.dataSet("Players", "global", key, '"6"', "[]", "{}", fence("OWNER-A", 6)), "Fenced");
      });

      test("the mark outlives a remove: an older write after the remove is refused", async () => {
        const key = fresh("k");
        await env.a.lockAcquire(`Players/global/${key}`, "OWNER-A", 30, ACQ, false);
        await env.a.dataSet("Players", "global", key, '"1"', "[]", "{}", fence("OWNER-A", 1));
        await env.a.dataRemove("Players", "global", key, fence("OWNER-A", 2));
        await rejectsWith(
          env.a.dataSet("Players", "global", key, '"1 late"', "[]", "{}", fence("OWNER-A", 1)),
          "Fenced",
          /newer write \(#2\)/,
        );
        await rejectsWith(env.a.dataSet("Players", "global", key, '"2"', "[]", "{}", fence("OWNER-A", 2)), "Fenced");
        await rejectsWith(env.a.dataRemove("Players", "global", key, fence("OWNER-A", 2)), "Fenced");
        assert.equal(await env.a.dataGet("Players", "global", key), undefined);
        await env.a.dataSet("Players", "global", key, '"3"', "[]", "{}", fence("OWNER-A", 3));
        assert.equal((await env.a.dataGet("Players", "global", key)).value, '"3"');
      });

      test("a fenced remove of a key never written still leaves its mark", async () => {
        const key = fresh("k");
        await env.a.lockAcquire(`Players/global/${key}`, "OWNER-A", 30, ACQ, false);
        await env.a.dataRemove("Players", "global", key, fence("OWNER-A", 4));
        assert.equal(await env.a.dataGet("Players", "global", key), undefined);
        await rejectsWith(env.a.dataSet("Players", "global", key, '"3"', "[]", "{}", fence("OWNER-A", 3)), "Fenced");
        await env.a.dataSet("Players", "global", key, '"5"', "[]", "{}", fence("OWNER-A", 5));
        const got = await env.a.dataGet("Players", "global", key);
        assert.equal(got.value, '"5"');
      });

      test("another holder's mark does not hold back the next holder's writes", async () => {
        const key = fresh("k");
        const map = `Players/global/${key}`;
        await env.a.lockAcquire(map, "OWNER-A", 30, ACQ, false);
        await env.a.dataSet("Players", "global", key, '"A"', "[]", "{}", fence("OWNER-A", 90));
        await env.a.lockRelease(map, "OWNER-A", ACQ);
        await env.b.lockAcquire(map, "OWNER-B", 30, ACQ, false);
        await env.b.dataSet("Players", "global", key, '"B"', "[]", "{}", fence("OWNER-B", 1));
        assert.equal((await env.a.dataGet("Players", "global", key)).value, '"B"');
        await rejectsWith(
          env.a.dataSet("Players", "global", key, '"A late"', "[]", "{}", fence("OWNER-A", 91)),
          "Fenced",
          /held by OWNER-B/,
        );
      });
    });

    // ---- queues -----------------------------------------------------------------------------

    describe("queues", () => {
      test("items come out by priority, higher first, and in the order added within one", async () => {
        const q = `Players/global/${fresh("q")}`;
        for (const [value, priority] of [
          ["a", 0],
          ["b", 5],
          ["c", 0],
          ["d", -1],
          ["e", 5],
          ["f", 2.5],
          ["g", -0],
        ]) {
          await env.a.queueAdd(q, JSON.stringify(value), 60, priority);
        }
        const read = await env.a.queueRead(q, 100, false, 0, 30);
        assert.deepEqual(
          read.values.map((v) => JSON.parse(v)),
          ["b", "e", "f", "a", "c", "g", "d"],
        );
        assert.equal(typeof read.readId, "string");
      });

      test("values are JSON text, handed back as given", async () => {
        const q = `Players/global/${fresh("q")}`;
        const values = ['{"Coins":5,"From":"é☃𝄞"}', "[1,2,3]", '"text"', "true", "12.5"];
        for (const v of values) await env.a.queueAdd(q, v, 60, 0);
        const read = await env.a.queueRead(q, 10, false, 0, 30);
        assert.deepEqual(
          read.values.map((v) => JSON.parse(v)),
          values.map((v) => JSON.parse(v)),
        );
      });

      test("count limits a read; allOrNothing reads nothing unless count items are visible", async () => {
        const q = `Players/global/${fresh("q")}`;
        await env.a.queueAdd(q, "1", 60, 0);
        await env.a.queueAdd(q, "2", 60, 0);
        assert.equal(await env.a.queueRead(q, 3, true, 0, 30), undefined);
        const one = await env.a.queueRead(q, 1, false, 0, 30);
        assert.deepEqual(one.values, ["1"]);
        const rest = await env.a.queueRead(q, 3, false, 0, 30);
        assert.deepEqual(rest.values, ["2"]);
        assert.notEqual(rest.readId, one.readId);
        assert.equal(await env.a.queueRead(q, 1, false, 0, 30), undefined);
      });

      test("read items stay hidden for the invisibility timeout, then come back in place", async () => {
        const q = `Players/global/${fresh("q")}`;
        await env.a.queueAdd(q, '"first"', 60, 0);
        await env.a.queueAdd(q, '"second"', 60, 0);
        const read = await env.a.queueRead(q, 1, false, 0, 0.3);
        assert.deepEqual(read.values, ['"first"']);
        const other = await env.b.queueRead(q, 5, false, 0, 0.3);
        assert.deepEqual(other.values, ['"second"'], "the hidden item is skipped, by every server");
        await env.wait(400);
        const again = await env.b.queueRead(q, 5, false, 0, 30);
        assert.deepEqual(again.values, ['"first"', '"second"'], "delivered again, in queue order");
        assert.notEqual(again.readId, read.readId);
      });

      test("remove acknowledges a read; after the invisibility timeout it does nothing", async () => {
        const q = `Players/global/${fresh("q")}`;
        for (const v of ["1", "2", "3"]) await env.a.queueAdd(q, v, 60, 0);
        const first = await env.a.queueRead(q, 2, false, 0, 30);
        await env.b.queueRemove(q, first.readId);
        await env.b.queueRemove(q, first.readId); // twice is fine
        await env.b.queueRemove(q, "not-a-read-id");
        const late = await env.a.queueRead(q, 5, false, 0, 0.2);
        assert.deepEqual(late.values, ["3"]);
        await env.wait(300);
        await env.a.queueRemove(q, late.readId); // too late: the item is visible again and stays
        const left = await env.a.queueRead(q, 5, false, 0, 30);
        assert.deepEqual(left.values, ["3"]);
        await env.a.queueRemove(q, left.readId);
        assert.equal(await env.a.queueRead(q, 5, false, 0, 30), undefined);
      });

      test("items expire after their expiration; an expiration of 0 is never seen", async () => {
        const q = `Players/global/${fresh("q")}`;
        await env.a.queueAdd(q, '"short"', 0.2, 0);
        await env.a.queueAdd(q, '"long"', 60, 0);
        await env.a.queueAdd(q, '"never"', 0, 10);
        await env.wait(300);
        const read = await env.a.queueRead(q, 5, false, 0, 30);
        assert.deepEqual(read.values, ['"long"']);
      });

      test("an item expires even while hidden by a read", async () => {
        const q = `Players/global/${fresh("q")}`;
        await env.a.queueAdd(q, '"x"', 0.3, 0);
        assert.deepEqual((await env.a.queueRead(q, 1, false, 0, 0.1)).values, ['"x"']);
        await env.wait(400);
        assert.equal(await env.a.queueRead(q, 1, false, 0, 30), undefined);
      });

      test("a waiting read returns once another server adds an item", async () => {
        const q = `Players/global/${fresh("q")}`;
        const pending = env.a.queueRead(q, 10, false, 5, 30);
        await env.wait(500);
        assert.equal(await peek(pending), PENDING);
        await env.b.queueAdd(q, '"late"', 60, 0);
        await env.wait(env.poll); // the next look at the queue
        const read = await pending;
        assert.deepEqual(read?.values, ['"late"']);
      });

      test("a waiting read with nothing to read gives up after waitSeconds", async () => {
        const q = `Players/global/${fresh("q")}`;
        const start = env.now();
        const pending = env.a.queueRead(q, 1, false, 0.6, 30);
        await env.wait(450);
        assert.equal(await peek(pending), PENDING);
        await env.wait(300);
        assert.equal(await pending, undefined);
        const took = env.now() - start;
        assert.ok(took >= 600 && took < 2500, `gave up after ${took} ms`);
      });

      test("aborting a waiting read's signal ends it with undefined; it takes nothing added later", async () => {
        const q = `Players/global/${fresh("q")}`;
        const controller = new AbortController();
        const pending = env.a.queueRead(q, 1, false, 60, 30, controller.signal);
        await env.wait(100);
        assert.equal(await peek(pending), PENDING);
        controller.abort();
        await env.wait(0);
        assert.equal(await pending, undefined);
        await env.b.queueAdd(q, '"next"', 60, 0);
        await env.wait(env.poll);
        const read = await env.b.queueRead(q, 1, false, 0, 30);
        assert.deepEqual(read?.values, ['"next"'], "the item is still there for the next reader");
        assert.equal(
          await env.a.queueRead(q, 1, false, 5, 30, AbortSignal.abort()),
          undefined,
          "aborted before it begins",
        );
      });

      test("closing the store ends a waiting read with undefined", async () => {
        const q = `Players/global/${fresh("q")}`;
        const pending = env.a.queueRead(q, 1, false, 60, 30);
        await env.wait(100);
        await env.a.close();
        assert.equal(await pending, undefined);
        await rejectsWith(env.a.dataGet("Players", "global", "k"), "Closed");
        await rejectsWith(env.a.queueAdd(q, "1", 60, 0), "Closed");
        await env.a.close(); // twice is fine
      });

      test("bad queue requests are refused as InvalidRequest", async () => {
        const q = `Players/global/${fresh("q")}`;
        await rejectsWith(env.a.queueAdd(q, "1", -1, 0), "InvalidRequest", /expiration/i);
        await rejectsWith(env.a.queueAdd(q, "1", 3_888_001, 0), "InvalidRequest");
        await rejectsWith(env.a.queueAdd(q, "1", 60, Number.NaN), "InvalidRequest", /priority/);
        await rejectsWith(env.a.queueAdd(q, "null", 60, 0), "InvalidRequest");
        await rejectsWith(
          env.a.queueAdd(q, JSON.stringify("x".repeat(40_000)), 60, 0),
          "InvalidRequest",
          /ItemValueSizeTooLarge/,
        );
        await rejectsWith(env.a.queueRead(q, 0, false, 0, 30), "InvalidRequest", /count/);
        await rejectsWith(env.a.queueRead(q, 101, false, 0, 30), "InvalidRequest", /count/);
        await rejectsWith(env.a.queueRead(q, 1.5, false, 0, 30), "InvalidRequest", /count/);
        await rejectsWith(env.a.queueRead(q, 1, false, 0, -1), "InvalidRequest", /invisibility/);
        await rejectsWith(env.a.queueRead(q, 1, false, -2, 30), "InvalidRequest", /waitSeconds/);
        await rejectsWith(env.a.queueRead(q, 1, "no", 0, 30), "InvalidRequest", /allOrNothing/);
      });

      test("any string names a queue or a lock, the empty one too, and no two names share one", async () => {
        // The empty name and hash-tag characters: a Redis Cluster routes a queue's keys by them.
        // The only test with fixed names; it leaves nothing behind.
        const names = ["", "%", "{", "}", "{}", "%7B"];
        for (const [i, name] of names.entries()) await env.a.queueAdd(name, String(i), 60, 0);
        for (const [i, name] of names.entries()) {
          const read = await env.b.queueRead(name, 10, false, 0, 30);
          assert.deepEqual(read?.values, [String(i)], `queue ${JSON.stringify(name)}`);
          await env.b.queueRemove(name, read.readId);
          assert.equal(await env.b.queueRead(name, 10, false, 0, 30), undefined);
          assert.deepEqual(await env.a.lockAcquire(name, "A", 30, ACQ, false), { ok: true });
        }
        for (const name of names) {
          assert.deepEqual(await env.b.lockAcquire(name, "B", 30, ACQ, false), { ok: false, holder: "A" });
          await env.a.lockRelease(name, "A", ACQ);
        }
      });
    });

    // ---- two servers ------------------------------------------------------------------------

    test("two servers on the same storage lock each other out, see each other's data and queue to each other", async () => {
      const key = fresh("k");
      const id = `Players/global/${key}`;
      assert.deepEqual(await env.a.lockAcquire(id, "SERVER-A", 30, ACQ, false), { ok: true });
      assert.deepEqual(await env.b.lockAcquire(id, "SERVER-B", 30, ACQ, false), { ok: false, holder: "SERVER-A" });
      await rejectsWith(env.b.dataSet("Players", "global", key, '"B"', "[]", "{}", fence("SERVER-B", 1)), "Fenced");
      const version = await env.a.dataSet("Players", "global", key, '{"Coins":1}', "[9]", "{}", fence("SERVER-A", 1));
      const seen = await env.b.dataGet("Players", "global", key);
      assert.equal(seen.version, version);
      assert.equal(seen.value, '{"Coins":1}');
      await env.b.queueAdd(id, '{"Gift":5}', 60, 0);
      const read = await env.a.queueRead(id, 100, false, 0, 30);
      assert.deepEqual(read.values, ['{"Gift":5}']);
      await env.a.queueRemove(id, read.readId);
      await env.a.lockRelease(id, "SERVER-A", ACQ);
      assert.deepEqual(await env.b.lockAcquire(id, "SERVER-B", 30, ACQ, false), { ok: true });
    });
  });
}
