// host/web/ (the harness page) in headless Chromium through playwright-core: a scripted
// scenario through window.harness (2 servers, 5 players, a crash, a fault burst, a queue message),
// then the page's own invariant checks, the crashed server's keys on the survivor after the
// lease, and the message delivered. Saves target/test-output/harness.png. Every page must get
// through without an uncaught error or a console error (a failed load is one).
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { chromium } from "playwright-core";
import { serveStatic } from "../../scripts/serve.mjs";
import { CHROMIUM, CHROMIUM_FLAGS } from "../js/helpers/chromium.mjs";

const root = new URL("../../", import.meta.url);
const output = new URL("target/test-output/", root);
let server, browser, profile, context;

before(async () => {
  server = await serveStatic(root);
  profile = mkdtempSync(join(tmpdir(), "dsm-harness-"));
  context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: [...CHROMIUM_FLAGS],
    viewport: { width: 1400, height: 1000 },
  });
  browser = context;
});

after(async () => {
  await browser?.close();
  server?.close();
  if (profile) rmSync(profile, { recursive: true, force: true });
});

async function openPage() {
  const page = await context.newPage();
  // Uncaught errors, and whatever the console reports as one (a failed load among them).
  const errors = [];
  page.on("pageerror", (e) => errors.push(e.message));
  page.on("console", (m) => m.type() === "error" && errors.push(`console: ${m.text()}`));
  await page.goto(`${server.url}/host/web/index.html?paused`);
  await page.waitForFunction(() => window.harnessReady === true, null, { timeout: 30_000 });
  return { page, errors };
}

test("the page loads without an error in the console (its icon included)", { timeout: 60_000 }, async () => {
  const { page, errors } = await openPage();
  // The browser asks for an icon after the load event; give it the time to.
  await page.waitForLoadState("networkidle");
  assert.deepEqual(errors, []);
  await page.close();
});

test("scenario: crash, faults, queue message; the invariants hold", { timeout: 240_000 }, async () => {
  const { page, errors } = await openPage();
  const h = (fn, arg) => page.evaluate(fn, arg);
  // Short leases so the scenario runs quickly: lease = 10 × 2 + 30 = 50 s.
  const LockInterval = 10,
    LockAttempts = 2;
  await h((s) => window.harness.setSettings(s), { SaveInterval: 10, LockInterval, LockAttempts });
  let st = await h(() => window.harness.state());
  assert.deepEqual(
    st.servers.map((s) => s.id),
    ["S1", "S2"],
  );
  for (let i = 1; i <= 5; i++) await h((u) => window.harness.join(u), String(i));
  await h(() => window.harness.advance(15_000));
  st = await h(() => window.harness.state());
  const open = st.sessions.filter((s) => s.state === true);
  assert.equal(open.length, 5, JSON.stringify(st.sessions));
  const onS1 = st.players.filter((p) => p.server === "S1").map((p) => p.key);
  const onS2 = st.players.filter((p) => p.server === "S2").map((p) => p.key);
  assert.ok(onS1.length > 0 && onS2.length > 0);

  // A queue message to a player on S2, sent from S1: Open → Locked → Queue.
  const target = st.players.find((p) => p.server === "S2");
  const sent = await h((u) => window.harness.sendCoins(u, 25), target.userId);
  assert.equal(sent.ok, true);
  assert.equal(sent.via, "queue");

  // A fault burst: errors, latency, ambiguous writes, for 40 s of virtual time.
  await h(() => window.harness.setFaults({ error: 0.2, latency: 800, ambiguous: 0.2 }));
  await h(() => window.harness.advance(20_000));
  await h(() => window.harness.crash("S1"));
  await h(() => window.harness.advance(20_000));
  mkdirSync(output, { recursive: true });
  // Mid-scenario: S1 crashed, its leases still running, the faults on (docs/harness.png).
  await page.screenshot({ path: new URL("harness-mid.png", output).pathname, fullPage: true });
  await h(() => window.harness.setFaults({ error: 0, latency: 0, ambiguous: 0 }));

  // Past the lease: the crashed server's players reopen on S2.
  await h((ms) => window.harness.advance(ms), (LockInterval * LockAttempts + 30) * 1000 + 20_000);
  st = await h(() => window.harness.state());
  mkdirSync(output, { recursive: true });
  await page.screenshot({ path: new URL("harness.png", output).pathname, fullPage: true });

  assert.equal(st.invariants.ok, true, JSON.stringify(st.invariants.violations, null, 1));
  for (const key of onS1) {
    assert.deepEqual(st.holders[key], ["S2"], `${key} moved to the survivor: ${JSON.stringify(st.holders)}`);
    const live = st.sessions.find((s) => s.key === key && s.server === "S2" && s.state === true);
    assert.ok(live, `${key} open on S2`);
  }
  for (const key of onS2) assert.deepEqual(st.holders[key], ["S2"]);
  const delivered = st.delivered.filter((d) => d.msg === sent.msg);
  assert.equal(delivered.length, 1, JSON.stringify(st.delivered));
  assert.equal(delivered[0].via, "queue");
  const targetSession = st.sessions.find((s) => s.key === target.key && s.state === true);
  assert.ok(targetSession.value.Coins >= 25);
  assert.ok(Object.values(st.acked).flat().length > 0, "saves were acknowledged");
  assert.equal(await page.getAttribute("#invariants", "data-ok"), "true");
  assert.deepEqual(errors, []);
  await page.close();
});

test("value editor: malformed JSON shows an inline error and changes nothing", { timeout: 60_000 }, async () => {
  const { page, errors } = await openPage();
  await page.evaluate(() => window.harness.join("42"));
  await page.evaluate(() => window.harness.advance(2000));
  await page.selectOption("#edit-player", "42");
  await page.click("#edit-load");
  const before = await page.evaluate(
    () => window.harness.state().sessions.find((s) => s.key === "Player/global/42").value,
  );
  assert.equal(before.Coins, 0);
  await page.fill("#edit-value", '{"Coins": 99,');
  await page.click("#edit-apply");
  const error = page.locator("#value-error");
  assert.equal(await error.isVisible(), true);
  assert.match(await error.textContent(), /malformed JSON/);
  const afterBad = await page.evaluate(
    () => window.harness.state().sessions.find((s) => s.key === "Player/global/42").value,
  );
  assert.deepEqual(afterBad, before);
  // A well-formed value applies and clears the error.
  await page.fill("#edit-value", '{"Coins": 99, "Level": 3}');
  await page.click("#edit-apply");
  assert.equal(await error.isVisible(), false);
  const afterGood = await page.evaluate(
    () => window.harness.state().sessions.find((s) => s.key === "Player/global/42").value,
  );
  assert.equal(afterGood.Coins, 99);
  assert.deepEqual(errors, []);
  await page.close();
});

test("the checks catch a double open and a lost save made behind the servers' backs", { timeout: 60_000 }, async () => {
  const { page } = await openPage();
  const st = await page.evaluate(async () => {
    const h = window.harness;
    h.join("7", "S1");
    await h.advance(2000);
    const s1 = h.state().sessions.find((s) => s.key === "Player/global/7");
    await h.advance(35_000); // an auto-save of S1 (SaveInterval 30) is acknowledged (tag > 0)
    // Steal the lock (S1's session keeps State true and never sent a release), and overwrite
    // the data with a tag older than the acknowledged save.
    await h.store.lockRelease("Player/global/7", s1.uniqueId, 2 ** 32);
    await h.store.dataSet("Player", "global", "7", JSON.stringify({ Coins: 0, Level: 0, Tag: 0 }), "[]", "{}", null);
    h.join("7", "S2");
    await h.advance(2000);
    return h.state();
  });
  const kinds = st.invariants.violations.map((v) => v.kind).sort();
  assert.equal(st.invariants.ok, false);
  assert.deepEqual([...new Set(kinds)], ["double open", "lost save"], JSON.stringify(st.invariants.violations));
  assert.equal(await page.getAttribute("#invariants", "data-ok"), "false");
  assert.ok(st.invariants.violations[0].trace.length > 0);
  await page.close();
});

test(
  "a lock entry the store lost: the next refresh lapses and the session closes (D22)",
  { timeout: 60_000 },
  async () => {
    const { page, errors } = await openPage();
    const st = await page.evaluate(async () => {
      const h = window.harness;
      h.setSettings({ LockInterval: 10 });
      h.join("9", "S1");
      await h.advance(2000);
      await h.loseLock("9");
      await h.advance(12_000);
      return h.state();
    });
    const session = st.sessions.find((s) => s.key === "Player/global/9");
    assert.equal(session.state, false, "closed by the lapse");
    assert.equal(session.attemptsRemaining, 0);
    assert.deepEqual(
      st.lapses.map((e) => e.server),
      [null, "S1"],
      "the loss, then the refresh that found the entry gone",
    );
    assert.match(st.lapses[1].text, /lease lapsed/);
    assert.equal(st.invariants.ok, true, JSON.stringify(st.invariants.violations));
    assert.deepEqual(errors, []);
    await page.close();
  },
);
