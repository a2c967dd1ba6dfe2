// The harness: N simulated servers (createModule) on one MemoryStore, all on one ManualClock that
// this page advances by (real elapsed × speed). It checks two invariants as it goes:
//  - no double open: at no instant do two sessions of one key claim the lock. A session claims
//    while its State is true and it has not sent its lockRelease; a crashed server's session
//    claims only until its lease ends (send time of its last successful lockAcquire + the TTL it
//    asked for: the store's lock cannot end before that).
//  - no lost acknowledged save: every save tags the value with a global counter (`Tag`, set in
//    the Saving handler, before the snapshot); when a session opens a key, the Tag it loads must
//    be at least every Tag acknowledged "Saved" for that key before that moment.
import { createModule, ManualClock, MemoryStore } from "../../pkg/index.mjs";

const NAME = "Player";
const START = Date.UTC(2025, 0, 1);
const RETRY_MS = 6000;
const STORE_METHODS = [
  "dataGet",
  "dataSet",
  "dataRemove",
  "lockAcquire",
  "lockRelease",
  "queueAdd",
  "queueRead",
  "queueRemove",
];

export const clock = new ManualClock(START);
export const store = new MemoryStore({ clock, seed: 7 });

const template = () => ({ Coins: 0, Level: 0, Tag: 0 });

/** Everything the page shows and the tests read. */
export const world = {
  servers: [], // { id, module, crashed, rr }
  players: new Map(), // userId -> { userId, server, ds, wanted }
  sessions: new Map(), // UniqueId -> info (see track())
  acked: new Map(), // key -> [{ tag, at, server }]
  keys: new Map(), // key -> { events: [], holders: [{ t, who }] }
  trace: [], // every event, newest last (capped)
  delivered: [], // { key, msg, coins, at, server, via }
  violations: [], // { kind, key, at, text, trace }
  settings: { SaveInterval: 30, LockInterval: 60, LockAttempts: 5, compress: false },
  faults: { error: 0, latency: 0, ambiguous: 0, outages: [] },
  tag: 0,
  msg: 0,
  nextServer: 0,
  rr: 0,
};

const t = () => clock.now() - START;
const keyOf = (userId) => `${NAME}/global/${userId}`;

function keyInfo(key) {
  let k = world.keys.get(key);
  if (!k) world.keys.set(key, (k = { events: [], holders: [{ t: t(), who: "" }] }));
  return k;
}

export function log(key, server, kind, text) {
  const e = { t: t(), key, server, kind, text };
  world.trace.push(e);
  if (world.trace.length > 3000) world.trace.splice(0, 1000);
  if (key) {
    const k = keyInfo(key);
    k.events.push(e);
    if (k.events.length > 400) k.events.splice(0, 100);
  }
  onChange();
}

let changeHook = () => {};
export function setChangeHook(fn) {
  changeHook = fn;
}
function onChange() {
  changeHook();
}

// ---- the store wrapper: a crashed server's calls hang forever --------------------------------

const hang = new Promise(() => {});

function wrapStore(server) {
  const w = { fencing: store.fencing };
  for (const m of STORE_METHODS) {
    w[m] = (...args) => {
      if (server.crashed) return hang;
      const sent = clock.now();
      if (m === "lockRelease") lockReleaseSent(args[0], args[1]);
      return store[m](...args).then(
        (v) => {
          if (server.crashed) return hang;
          if (m === "lockAcquire") lockReplied(args[0], args[1], args[2], args[3], sent, v, server);
          return v;
        },
        (e) => {
          if (server.crashed) return hang;
          throw e;
        },
      );
    };
  }
  // The shared store is never closed by a server.
  w.close = async () => {};
  return w;
}

function lockReleaseSent(map, owner) {
  const s = world.sessions.get(owner);
  if (s) s.released = true;
  check();
}

function lockReplied(map, owner, ttlSeconds, token, sent, result, server) {
  const s = world.sessions.get(owner);
  if (!s) return;
  if (result.ok) {
    s.leaseEnd = sent + ttlSeconds * 1000;
    s.token = token;
    if (s.released) s.released = false;
  } else if (result.lapsed) {
    // D22: the refresh found the entry gone (or another acquisition's); the session closes.
    log(s.key, server.id, "lapse", "refresh found the lock entry gone: the lease lapsed, closing without saving");
  } else if (s.ds.State === true) {
    log(s.key, server.id, "lock", `refresh found holder ${shortId(result.holder)}`);
  }
  check();
}

const shortId = (id) => String(id).slice(0, 8);

// ---- servers ---------------------------------------------------------------------------------

export function addServer() {
  const server = { id: `S${++world.nextServer}`, crashed: false };
  server.module = createModule({ store: wrapStore(server), clock, seed: world.nextServer });
  world.servers.push(server);
  log(null, server.id, "server", "started");
  return server.id;
}

const live = () => world.servers.filter((s) => !s.crashed);
const serverById = (id) => world.servers.find((s) => s.id === id);

function pickServer(except) {
  const candidates = live().filter((s) => s.id !== except);
  if (candidates.length === 0) return undefined;
  return candidates[world.rr++ % candidates.length];
}

/** Removes a live server the clean way: every session closes (saves, unlocks). */
export async function removeServer(id) {
  const server = serverById(id);
  if (!server || server.crashed) return false;
  world.servers = world.servers.filter((s) => s !== server);
  log(null, id, "server", "shutting down");
  const moved = [...world.players.values()].filter((p) => p.server === id);
  await server.module.BindToClose();
  for (const p of moved) if (p.wanted) join(p.userId);
  return true;
}

/** Drops a server without closing anything: its store calls hang from now on and nothing here
 * touches its sessions again. Its players reconnect to the other servers. */
export function crash(id) {
  const server = serverById(id);
  if (!server || server.crashed) return false;
  for (const s of world.sessions.values()) {
    if (s.server === id) {
      s.frozenState = s.ds.State;
      s.crashed = true;
    }
  }
  server.crashed = true;
  log(null, id, "server", "CRASHED");
  for (const p of world.players.values()) {
    if (p.server === id && p.wanted) {
      log(keyOf(p.userId), id, "crash", "server crashed with the session open");
      join(p.userId);
    }
  }
  check();
  return true;
}

// ---- sessions --------------------------------------------------------------------------------

function applySettings(ds) {
  const { SaveInterval, LockInterval, LockAttempts, compress } = world.settings;
  try {
    ds.SaveInterval = SaveInterval;
    ds.LockInterval = LockInterval;
    ds.LockAttempts = LockAttempts;
  } catch (e) {
    log(ds.Id, null, "error", `settings: ${e.message}`);
  }
  if (ds.State !== null) {
    if (compress) ds.Metadata.Compress = { Level: 2, Decimals: 3, Safety: true };
    else delete ds.Metadata.Compress;
  }
}

/** Registers a session made by server `server` and wires the checks to its signals. */
function track(server, ds) {
  const info = {
    id: ds.UniqueId,
    key: ds.Id,
    server: server.id,
    ds,
    hidden: ds.Hidden,
    released: false,
    leaseEnd: -Infinity,
    crashed: false,
    saving: [],
    opened: 0,
  };
  world.sessions.set(ds.UniqueId, info);
  applySettings(ds);
  ds.StateChanged.Connect((state) => {
    if (state === true) {
      info.opened += 1;
      info.released = false;
      checkLoad(info);
    }
    log(info.key, server.id, "state", `${info.hidden ? "hidden " : ""}State → ${state}`);
    check();
  });
  ds.Saving.Connect((value) => {
    if (value !== null && typeof value === "object" && !Array.isArray(value)) {
      value.Tag = ++world.tag;
      info.saving.push(world.tag);
    } else {
      info.saving.push(undefined);
    }
  });
  ds.Saved.Connect((response, data) => {
    const tag = info.saving.shift();
    if (response === "Saved") {
      if (tag !== undefined) {
        const list = world.acked.get(info.key) ?? [];
        list.push({ tag, at: t(), server: server.id });
        world.acked.set(info.key, list);
      }
      log(info.key, server.id, "save", `Saved tag ${tag} version ${ds.Version}`);
    } else {
      log(info.key, server.id, "saveErr", `save ${response}: ${String(data).slice(0, 80)}`);
    }
  });
  ds.AttemptsChanged.Connect((n) => log(info.key, server.id, "attempts", `AttemptsRemaining ${n}`));
  ds.ProcessQueue.Connect(async (id, values, d) => {
    if (server.crashed) return;
    if ((await d.Remove(id))[0] !== "Success") return;
    if (d.State !== true || typeof d.Value !== "object" || d.Value === null) return;
    for (const v of values) {
      const coins = Number(v?.Coins) || 0;
      d.Value.Coins = (Number(d.Value.Coins) || 0) + coins;
      world.delivered.push({ key: info.key, msg: v?.Msg, coins, at: t(), server: server.id, via: "queue" });
      log(info.key, server.id, "queue", `delivered message ${v?.Msg} (+${coins} coins)`);
    }
  });
  return info;
}

/** On a successful open: the value loaded must hold every save acknowledged before now. */
function checkLoad(info) {
  const loaded = Number(info.ds.Value?.Tag ?? 0);
  const acks = world.acked.get(info.key) ?? [];
  const need = acks.reduce((m, a) => Math.max(m, a.tag), 0);
  if (loaded < need) {
    const a = acks.find((x) => x.tag === need);
    violate(
      "lost save",
      info.key,
      `${info.server} loaded tag ${loaded}, but tag ${need} was acknowledged Saved by ${a.server} at ${fmt(a.at)}`,
    );
  }
}

/** The sessions that claim `key` now. */
function claims(key) {
  const now = clock.now();
  const out = [];
  for (const s of world.sessions.values()) {
    if (s.key !== key || s.released) continue;
    if (s.crashed ? s.frozenState !== false && now < s.leaseEnd : s.ds.State === true) out.push(s);
  }
  return out;
}

/** Checks the double-open invariant on every key and records lock holder changes. */
export function check() {
  const keys = new Set([...world.sessions.values()].map((s) => s.key));
  for (const key of keys) {
    const c = claims(key);
    const who = c
      .map((s) => s.server + (s.crashed ? "✝" : ""))
      .sort()
      .join("+");
    const k = keyInfo(key);
    if (k.holders[k.holders.length - 1].who !== who) k.holders.push({ t: t(), who });
    if (c.length > 1 && !k.doubled) {
      k.doubled = true;
      violate("double open", key, `${c.map((s) => `${s.server}:${shortId(s.id)}`).join(" and ")} both hold the key`);
    } else if (c.length <= 1) {
      k.doubled = false;
    }
  }
}

function violate(kind, key, text) {
  const trace = world.trace.filter((e) => e.key === key || e.key === null).slice(-40);
  world.violations.push({ kind, key, at: t(), text, trace });
  log(key, null, "VIOLATION", `${kind}: ${text}`);
}

// ---- players ---------------------------------------------------------------------------------

/** A player joins: a session on the next live server (round-robin), opened with the template,
 * retried every 6 s while another server holds the lock. */
export function join(userId, serverId) {
  userId = String(userId);
  const server = serverId ? serverById(serverId) : pickServer(world.players.get(userId)?.server);
  if (!server || server.crashed) return false;
  const player = { userId, server: server.id, wanted: true };
  world.players.set(userId, player);
  const ds = server.module.new(NAME, userId);
  player.ds = ds;
  track(server, ds);
  log(ds.Id, server.id, "join", `player ${userId} joins`);
  const attempt = async () => {
    if (world.players.get(userId) !== player || !player.wanted || server.crashed || ds.State !== false) return;
    const [response, data] = await ds.Open(template());
    if (server.crashed) return;
    if (response === "Success") {
      applySettings(ds);
      return;
    }
    log(ds.Id, server.id, "open", `Open: ${response} ${response === "Locked" ? shortId(data) : (data ?? "")}`);
    if (response === "Locked" || response === "Error") clock.setTimeout(attempt, RETRY_MS);
  };
  attempt();
  return server.id;
}

/** The store loses a player's lock entry behind the servers' backs (as a Redis restart or an
 * eviction would): the session's next refresh answers that its lease lapsed (D22). */
export async function loseLock(userId) {
  const s = [...world.sessions.values()].find((x) => x.key === keyOf(userId) && x.ds.State === true);
  if (!s || s.token === undefined) return false;
  log(s.key, null, "lapse", `the store lost the lock entry of ${s.server}:${shortId(s.id)}`);
  await store.lockRelease(s.key, s.id, s.token);
  return true;
}

/** A player leaves: Destroy (saves and unlocks). */
export async function leave(userId) {
  userId = String(userId);
  const player = world.players.get(userId);
  if (!player) return false;
  player.wanted = false;
  world.players.delete(userId);
  if (serverById(player.server)?.crashed) return true;
  log(player.ds.Id, player.server, "leave", `player ${userId} leaves`);
  await player.ds.Destroy();
  return true;
}

/** Sends coins to a player from another live server: find or hidden, Open → Locked → Queue. */
export async function sendCoins(userId, coins = 10) {
  userId = String(userId);
  const owner = world.players.get(userId)?.server;
  const server = pickServer(owner);
  if (!server) return { ok: false, error: "no other live server" };
  const msg = ++world.msg;
  const key = keyOf(userId);
  const ds = server.module.find(NAME, userId) ?? server.module.hidden(NAME, userId);
  if (!world.sessions.has(ds.UniqueId)) track(server, ds);
  log(key, server.id, "send", `message ${msg}: +${coins} coins from ${server.id}`);
  const [response] = await ds.Open(template());
  if (response === "Success") {
    ds.Value.Coins = (Number(ds.Value.Coins) || 0) + coins;
    world.delivered.push({ key, msg, coins, at: t(), server: server.id, via: "direct" });
    log(key, server.id, "queue", `message ${msg} applied directly (+${coins})`);
    if (ds.Hidden) await ds.Destroy();
    return { ok: true, msg, via: "direct" };
  }
  if (response === "Locked") {
    const [queued, error] = await ds.Queue({ Coins: coins, Msg: msg }, 3888000);
    log(key, server.id, "send", `message ${msg} queued: ${queued}${error ? " " + error : ""}`);
    return { ok: queued === "Success", msg, via: "queue" };
  }
  return { ok: false, msg, error: response };
}

// ---- settings and faults ---------------------------------------------------------------------

export function setSettings(patch) {
  Object.assign(world.settings, patch);
  if (typeof document !== "undefined") {
    const w = world.settings;
    for (const [sel, v] of [
      ["#s-save", w.SaveInterval],
      ["#s-lock", w.LockInterval],
      ["#s-attempts", w.LockAttempts],
    ]) {
      const el = document.querySelector(sel);
      if (el) el.value = String(v);
    }
  }
  for (const s of world.sessions.values()) if (!s.crashed && s.ds.State !== null) applySettings(s.ds);
  log(null, null, "settings", JSON.stringify(world.settings));
}

function applyFaults() {
  const { error, latency, ambiguous, outages } = world.faults;
  store.setFaults({
    transient: error,
    ambiguous,
    latencyMs: latency > 0 ? [0, latency] : 0,
    outages: outages.map((o) => ({ startMs: o.startMs, endMs: o.endMs })),
  });
}

/** `{ error, latency (ms), ambiguous }`, probabilities in 0..1. */
export function setFaults(patch) {
  Object.assign(world.faults, patch);
  if (typeof document !== "undefined") {
    const f = world.faults;
    for (const [id, v] of [
      ["f-error", f.error * 100],
      ["f-latency", f.latency],
      ["f-ambiguous", f.ambiguous * 100],
    ]) {
      const el = document.getElementById(id);
      if (el) el.value = String(v);
      const out = document.getElementById(`${id}-out`);
      if (out) out.textContent = String(v);
    }
  }
  applyFaults();
  log(
    null,
    null,
    "faults",
    `error ${world.faults.error}, latency ≤ ${world.faults.latency} ms, ambiguous ${world.faults.ambiguous}`,
  );
}

/** Every store request fails from now for `ms`. */
export function outage(ms = 30000) {
  const startMs = clock.now();
  world.faults.outages = world.faults.outages.filter((o) => o.endMs > startMs);
  world.faults.outages.push({ startMs, endMs: startMs + ms });
  applyFaults();
  log(null, null, "faults", `outage for ${ms / 1000} s`);
}

/** Replaces a player's Value from JSON text. Returns an error message, or "" when applied. */
export function editValue(userId, text) {
  const player = world.players.get(String(userId));
  if (!player || serverById(player.server)?.crashed) return "no such player on a live server";
  if (player.ds.State !== true) return "the session is not open";
  let value;
  try {
    value = JSON.parse(text);
  } catch (e) {
    return `malformed JSON: ${e.message}`;
  }
  if (value === null || typeof value !== "object" || Array.isArray(value)) return "the value must be a JSON object";
  value.Tag = player.ds.Value?.Tag ?? 0; // the Saving handler owns the tag
  player.ds.Value = value;
  log(player.ds.Id, player.server, "edit", "value edited");
  return "";
}

// ---- time ------------------------------------------------------------------------------------

let advancing = Promise.resolve();
/** Moves virtual time forward (in steps, checking as it goes). */
export function advance(ms) {
  advancing = advancing.then(async () => {
    let left = ms;
    while (left > 0) {
      const step = Math.min(left, 1000);
      await clock.advance(step);
      left -= step;
      check();
    }
  });
  return advancing;
}

export const fmt = (ms) => `${(ms / 1000).toFixed(1)} s`;

// ---- the state for the page and the tests ----------------------------------------------------

export function state() {
  const sessions = [...world.sessions.values()].map((s) => ({
    key: s.key,
    server: s.server,
    uniqueId: s.id,
    hidden: s.hidden,
    crashed: s.crashed,
    state: s.crashed ? s.frozenState : s.ds.State,
    attemptsRemaining: s.crashed ? null : s.ds.AttemptsRemaining,
    version: s.crashed ? null : s.ds.Version,
    value: s.crashed ? null : s.ds.State === true ? s.ds.Clone() : null,
  }));
  const holders = {};
  for (const key of world.keys.keys()) holders[key] = claims(key).map((s) => s.server);
  return {
    now: t(),
    servers: world.servers.map((s) => ({ id: s.id, crashed: s.crashed })),
    players: [...world.players.values()].map((p) => ({ userId: p.userId, server: p.server, key: keyOf(p.userId) })),
    sessions,
    holders,
    invariants: { ok: world.violations.length === 0, violations: world.violations },
    delivered: world.delivered,
    lapses: world.trace.filter((e) => e.kind === "lapse"),
    acked: Object.fromEntries(world.acked),
    settings: world.settings,
    faults: world.faults,
  };
}

// ---- the page --------------------------------------------------------------------------------

const $ = (sel) => document.querySelector(sel);
let speed = 1;
let dirty = true;
setChangeHook(() => (dirty = true));

function option(value, text = value) {
  const o = document.createElement("option");
  o.value = value;
  o.textContent = text;
  return o;
}

function fillSelect(sel, values) {
  const el = $(sel);
  const keep = el.value;
  const now = [...el.options].map((o) => o.value).join("|");
  if (now === values.join("|")) return;
  el.replaceChildren(...values.map((v) => option(v)));
  if (values.includes(keep)) el.value = keep;
}

const COLORS = ["#4c8bf5", "#e8a33d", "#3bb273", "#b45fd6", "#d9534f", "#17a2b8", "#8d6e63", "#6c757d"];
const colorOf = (who) => {
  if (!who) return "transparent";
  if (who.includes("+")) return "#ff0000";
  const n = parseInt(who.replace(/\D/g, ""), 10) || 0;
  return COLORS[(n - 1) % COLORS.length];
};

function renderTimelines() {
  const now = t();
  const from = Math.max(0, now - 600_000);
  const span = Math.max(1, now - from);
  const box = $("#timelines");
  const rows = [];
  for (const [key, k] of [...world.keys].sort()) {
    const row = document.createElement("div");
    row.className = "row";
    const title = document.createElement("div");
    title.className = "key";
    const s = [...world.sessions.values()].filter((x) => x.key === key && !x.crashed && x.ds.State === true);
    title.textContent =
      `${key}  holder: ${
        claims(key)
          .map((x) => x.server)
          .join("+") || "—"
      }` + (s[0] ? `  attempts ${s[0].ds.AttemptsRemaining}  coins ${s[0].ds.Value?.Coins}  v ${s[0].ds.Version}` : "");
    const bar = document.createElement("div");
    bar.className = "bar";
    k.holders.forEach((h, i) => {
      const end = i + 1 < k.holders.length ? k.holders[i + 1].t : now;
      if (end < from || !h.who) return;
      const seg = document.createElement("div");
      seg.className = "seg";
      const a = Math.max(h.t, from);
      seg.style.left = `${((a - from) / span) * 100}%`;
      seg.style.width = `${Math.max(0.3, ((end - a) / span) * 100)}%`;
      seg.style.background = colorOf(h.who);
      seg.title = `${h.who} from ${fmt(h.t)}`;
      seg.textContent = h.who;
      bar.append(seg);
    });
    for (const e of k.events) {
      if (e.t < from || !["save", "saveErr", "queue", "state", "lapse", "crash", "VIOLATION"].includes(e.kind))
        continue;
      const m = document.createElement("div");
      m.className = `mark ${e.kind}`;
      m.style.left = `${((e.t - from) / span) * 100}%`;
      m.title = `${fmt(e.t)} ${e.server ?? ""} ${e.text}`;
      bar.append(m);
    }
    const events = document.createElement("div");
    events.className = "events";
    events.textContent = k.events
      .slice(-6)
      .map((e) => `${fmt(e.t)} ${e.server ?? ""} ${e.text}`)
      .join("\n");
    row.append(title, bar, events);
    rows.push(row);
  }
  box.replaceChildren(...rows);
}

function render() {
  $("#clock").textContent = `virtual time ${fmt(t())}`;
  const ok = world.violations.length === 0;
  const banner = $("#invariants");
  banner.className = ok ? "ok" : "broken";
  banner.dataset.ok = String(ok);
  if (ok) {
    banner.textContent =
      "✔ Invariants hold: no double open, no lost acknowledged save " +
      `(${[...world.acked.values()].reduce((n, l) => n + l.length, 0)} saves acknowledged, ${world.delivered.length} messages delivered)`;
  } else {
    banner.replaceChildren();
    for (const v of world.violations) {
      const h = document.createElement("div");
      h.className = "violation";
      h.textContent = `✘ ${v.kind} on ${v.key} at ${fmt(v.at)}: ${v.text}`;
      const pre = document.createElement("pre");
      pre.textContent = v.trace
        .map((e) => `${fmt(e.t)} ${e.server ?? "--"} ${e.key ?? ""} ${e.kind}: ${e.text}`)
        .join("\n");
      banner.append(h, pre);
    }
  }
  const serverIds = world.servers.map((s) => s.id);
  const liveIds = live().map((s) => s.id);
  fillSelect("#server-select", liveIds);
  const players = [...world.players.keys()];
  fillSelect("#player-select", players);
  fillSelect("#edit-player", players);
  $("#servers").replaceChildren(
    ...world.servers.map((s) => {
      const li = document.createElement("li");
      li.className = s.crashed ? "crashed" : "";
      const keys = [...world.players.values()].filter((p) => p.server === s.id).map((p) => p.userId);
      li.textContent = `${s.id}${s.crashed ? " (crashed)" : ""}: players ${keys.join(", ") || "none"}`;
      li.style.borderLeftColor = colorOf(s.id);
      return li;
    }),
  );
  $("#delivered").textContent =
    world.delivered
      .map((d) => `${fmt(d.at)} message ${d.msg} → ${d.key} on ${d.server} (${d.via}, +${d.coins})`)
      .join("\n") || "none yet";
  void serverIds;
  renderTimelines();
}

function loadEditor() {
  const p = world.players.get($("#edit-player").value);
  $("#edit-value").value = p && p.ds.State === true ? JSON.stringify(p.ds.Value, null, 2) : "";
  $("#value-error").textContent = "";
}

function num(sel) {
  return Number($(sel).value);
}

function wire() {
  $("#speed").addEventListener("change", () => (speed = num("#speed")));
  $("#step").addEventListener("click", () => advance(1000));
  $("#step10").addEventListener("click", () => advance(10_000));
  $("#add-server").addEventListener("click", () => addServer());
  $("#remove-server").addEventListener("click", () => removeServer($("#server-select").value));
  $("#crash-server").addEventListener("click", () => crash($("#server-select").value));
  let nextPlayer = 1;
  $("#join").addEventListener("click", () => {
    while (world.players.has(String(nextPlayer))) nextPlayer++;
    join(String(nextPlayer++));
  });
  $("#leave").addEventListener("click", () => leave($("#player-select").value));
  $("#lose-lock").addEventListener("click", () => loseLock($("#player-select").value));
  $("#send").addEventListener("click", () => sendCoins($("#player-select").value, num("#coins")));
  for (const [id, field, scale] of [
    ["#f-error", "error", 100],
    ["#f-latency", "latency", 1],
    ["#f-ambiguous", "ambiguous", 100],
  ]) {
    $(id).addEventListener("change", () => {
      setFaults({ [field]: num(id) / scale });
      $(`${id}-out`).textContent = $(id).value;
    });
  }
  $("#outage").addEventListener("click", () => outage(num("#outage-s") * 1000));
  $("#compress").addEventListener("change", () => setSettings({ compress: $("#compress").checked }));
  $("#apply-settings").addEventListener("click", () =>
    setSettings({ SaveInterval: num("#s-save"), LockInterval: num("#s-lock"), LockAttempts: num("#s-attempts") }),
  );
  $("#edit-player").addEventListener("change", loadEditor);
  $("#edit-load").addEventListener("click", loadEditor);
  $("#edit-apply").addEventListener("click", () => {
    const error = editValue($("#edit-player").value, $("#edit-value").value);
    $("#value-error").textContent = error;
    $("#value-error").hidden = !error;
  });
}

let last = performance.now();
let busy = false;
let owed = 0;
function frame(nowReal) {
  owed += Math.max(0, nowReal - last) * speed;
  last = nowReal;
  if (!busy && owed >= 1) {
    const ms = Math.floor(owed);
    owed -= ms;
    busy = true;
    advance(ms).finally(() => (busy = false));
  }
  if (dirty) {
    dirty = false;
    render();
  }
  requestAnimationFrame(frame);
}

/** The test API: everything a script needs, in virtual time. */
window.harness = {
  addServer,
  removeServer,
  join,
  leave,
  loseLock,
  crash,
  sendCoins,
  setFaults: (f) => setFaults(f),
  outage,
  setSettings,
  editValue,
  setSpeed: (s) => {
    speed = s;
    $("#speed").value = String(s);
  },
  advance: (ms) =>
    advance(ms).then(() => {
      render();
      return t();
    }),
  state,
  render,
  /** The shared MemoryStore itself, for tests that break the rules behind the servers' backs. */
  store,
};

if (typeof document !== "undefined") {
  wire();
  const params = new URLSearchParams(location.search);
  if (params.has("paused")) window.harness.setSpeed(0);
  if (!params.has("empty")) {
    addServer();
    addServer();
  }
  render();
  requestAnimationFrame(frame);
  $("#status").textContent = "ready";
  window.harnessReady = true;
}
