/**
 * JS values → the JSON text the core reads (`Value::from_json_str`).
 *
 * This is the JS host's half of value conversion, and the only place that knows which JS values
 * a DataStore cannot hold: NaN, ±Infinity, functions, symbols, BigInt, cycles, holes and
 * `undefined`/`null` inside arrays, strings and keys with unpaired surrogates, arrays with named
 * properties (`JSON.stringify` would drop them), objects with a `toJSON` method (it would write
 * what that returns), and anything but plain objects and arrays.
 * `undefined`/`null` object properties are absent keys, as nil is in Luau.
 *
 * Nothing may change on the way: what passes the walk is written exactly. `JSON.stringify`
 * writes -0 as `0`, so when the walk has seen a -0 a slower writer that keeps it does the job.
 * Keys are plain data: an own `"__proto__"` key (which `JSON.parse` makes) is written like any
 * other.
 *
 * Why here and not in Rust: walking a value from wasm costs several JS calls per value, which
 * made compress 4× slower than this walk plus `JSON.stringify` (see docs/DESIGN.md). The first
 * walk (`storable`) only answers yes or no: no path, no list of ancestors (a cycle shows up as
 * nesting past MAX_DEPTH), no exceptions. Only when it says no does `walk` go again, keeping
 * the path and the ancestors, to say what and where; so the common case pays nothing for good
 * messages.
 */

/** Deepest nesting accepted (the core's `MAX_DEPTH`). */
export const MAX_DEPTH = 512;

class Refusal extends Error {}

/**
 * @param {unknown} value
 * @param {string} root how errors name the value (`"Value"`, `"value"`, `"options"`)
 * @returns {string} JSON text; `null` for undefined
 */
export function toJson(value, root) {
  // A getter in `value` may run a toJson of its own (through the module's API): the flag is
  // this call's, and goes back to the caller's afterwards.
  const outer = negativeZero;
  negativeZero = false;
  try {
    if (!storable(value, 0)) {
      const path = [];
      try {
        walk(value, [], path);
      } catch (e) {
        if (!(e instanceof Refusal)) throw e;
        throw new Error(`${root}${path.join("")}: ${e.message}`);
      }
    }
    return (negativeZero ? write(value) : JSON.stringify(value)) ?? "null";
  } finally {
    negativeZero = outer;
  }
}

const ObjectPrototype = Object.prototype;

/** Whether the running `toJson`'s `storable` walk has met a -0. */
let negativeZero = false;

/**
 * `JSON.stringify` for a value `storable` accepted, except that -0 is `-0` (which `JSON.parse`
 * and the core read back as -0).
 */
function write(value) {
  if (typeof value === "number") return value === 0 && 1 / value < 0 ? "-0" : JSON.stringify(value);
  if (typeof value !== "object" || value === null) return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(write).join(",")}]`;
  const fields = [];
  for (const key of Object.keys(value)) {
    const item = write(value[key]);
    if (item !== undefined) fields.push(`${JSON.stringify(key)}:${item}`);
  }
  return `{${fields.join(",")}}`;
}

/** Whether `walk` would accept `value`, as fast as a walk can go. */
function storable(value, depth) {
  switch (typeof value) {
    case "object":
      return value === null || storableTable(value, depth);
    case "number":
      if (value === 0 && 1 / value < 0) negativeZero = true;
      return value - value === 0; // finite
    case "string":
      return value.isWellFormed();
    case "boolean":
    case "undefined":
      return true;
    default:
      return false;
  }
}

/** `storable` for an object (or array); nested objects skip the `typeof` switch. */
function storableTable(table, depth) {
  if (depth >= MAX_DEPTH) return false;
  if (Array.isArray(table)) {
    const length = table.length;
    for (let i = 0; i < length; i++) {
      const item = table[i];
      if (typeof item === "object") {
        if (item === null || !storableTable(item, depth + 1)) return false;
      } else if (item === undefined || !storable(item, depth)) return false;
    }
    // No named properties (a hole would have been refused above), and nothing for
    // JSON.stringify to call instead of writing the elements.
    return Object.keys(table).length === length && typeof table.toJSON !== "function";
  }
  if (!isPlainObject(table) || typeof table.toJSON === "function") return false;
  for (const key in table) {
    if (!key.isWellFormed()) return false;
    const item = table[key];
    if (typeof item === "object") {
      if (item !== null && !storableTable(item, depth + 1)) return false;
    } else if (!storable(item, depth)) return false;
  }
  return true;
}

/**
 * Whether a non-array object is data: its prototype is Object.prototype, none, or one without
 * a prototype of its own and without enumerable properties (another realm's Object.prototype,
 * or a null-prototype parent), which the walk would see and JSON.stringify drop.
 */
export function isPlainObject(object) {
  const proto = Object.getPrototypeOf(object);
  if (proto === ObjectPrototype || proto === null) return true;
  return Object.getPrototypeOf(proto) === null && inheritedKey(proto) === undefined;
}

function walk(value, ancestors, path) {
  switch (typeof value) {
    case "number":
      if (Number.isFinite(value)) return;
      throw new Refusal(`${value} cannot be stored`);
    case "string":
      if (value.isWellFormed()) return;
      throw new Refusal("a string with an unpaired surrogate cannot be stored");
    case "boolean":
    case "undefined":
      return;
    case "function":
      throw new Refusal("a function cannot be stored");
    case "symbol":
      throw new Refusal("a symbol cannot be stored");
    case "bigint":
      throw new Refusal("a BigInt cannot be stored (DataStore numbers are doubles; convert it with Number())");
    case "object":
      if (value === null) return;
      break;
    default:
      throw new Refusal(`a ${typeof value} cannot be stored`);
  }
  if (ancestors.includes(value)) throw new Refusal("a cycle cannot be stored (this table contains itself)");
  if (ancestors.length >= MAX_DEPTH) throw new Refusal(`nesting deeper than ${MAX_DEPTH} levels cannot be stored`);
  ancestors.push(value);
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      path?.push(`[${i}]`);
      const item = value[i];
      if (item === undefined || item === null) {
        const what = item === null ? "null" : "a hole or undefined";
        throw new Refusal(`${what} inside an array cannot be stored (Luau arrays have no holes)`);
      }
      walk(item, ancestors, path);
      path?.pop();
    }
    const named = Object.keys(value).find((key) => !isIndex(key, value.length));
    if (named !== undefined) {
      path?.push(step(named));
      throw new Refusal("an array's named property cannot be stored (only its elements are data)");
    }
    refuseToJson(value);
  } else {
    const proto = Object.getPrototypeOf(value);
    if (proto !== null && Object.getPrototypeOf(proto) !== null) {
      throw new Refusal(
        `a ${value.constructor?.name ?? "class"} object cannot be stored (only plain objects and arrays)`,
      );
    }
    refuseToJson(value);
    const inherited = proto === ObjectPrototype || proto === null ? undefined : inheritedKey(proto);
    if (inherited !== undefined) {
      path?.push(step(inherited));
      throw new Refusal("an inherited property cannot be stored (only own properties are data)");
    }
    for (const key in value) {
      path?.push(step(key));
      if (!key.isWellFormed()) throw new Refusal("a key with an unpaired surrogate cannot be stored");
      walk(value[key], ancestors, path);
      path?.pop();
    }
  }
  ancestors.pop();
}

/** JSON.stringify would write what a `toJSON` method returns (an own non-enumerable one, or an
 * inherited one; an enumerable one is refused as a function). */
function refuseToJson(table) {
  if (typeof table.toJSON === "function") {
    throw new Refusal("an object with a toJSON method cannot be stored (only its data can)");
  }
}

/** The first enumerable property of a null-prototype object, if any. */
function inheritedKey(proto) {
  for (const key in proto) return key;
  return undefined;
}

/** How a path names the property `key`. */
export function step(key) {
  return /^[A-Za-z_][A-Za-z0-9_]*$/.test(key) ? `.${key}` : `[${JSON.stringify(key)}]`;
}

/** Whether `key` is the name of an element of an array of this length. */
function isIndex(key, length) {
  return /^(0|[1-9][0-9]*)$/.test(key) && Number(key) < length;
}
