// StyLua for the Luau here, from npm: `@johnnymorganz/stylua` is StyLua's own formatter built to
// wasm (a library, no CLI), pinned in package.json, so nothing is downloaded outside the registry
// (the `-bin` package fetches a binary from GitHub at install). This is the CLI part we need:
//
//   node scripts/stylua.mjs --check PATH...   lists files StyLua would change; exits 1 if any
//   node scripts/stylua.mjs PATH...           formats them in place
//
// PATHs are files or folders (searched for *.luau and *.lua). Settings come from .stylua.toml at
// the repository root, the file the StyLua CLI and editor plugins read too.
import { readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import * as stylua from "@johnnymorganz/stylua";

const root = new URL("../", import.meta.url).pathname;

// .stylua.toml keys whose values name enum members, and the enums.
const ENUMS = {
  syntax: stylua.LuaVersion,
  indent_type: stylua.IndentType,
  line_endings: stylua.LineEndings,
  quote_style: stylua.QuoteStyle,
  call_parentheses: stylua.CallParenType,
  collapse_simple_statement: stylua.CollapseSimpleStatement,
  space_after_function_names: stylua.SpaceAfterFunctionNames,
  block_newline_gaps: stylua.BlockNewlineGaps,
};
const SCALARS = new Set(["column_width", "indent_width", "no_call_parentheses"]);

/** The top-level `key = value` settings of .stylua.toml (strings, numbers, booleans). */
function settings() {
  const file = join(root, ".stylua.toml");
  const out = {};
  for (const [i, raw] of readFileSync(file, "utf8").split("\n").entries()) {
    const line = raw.replace(/#.*$/, "").trim();
    if (line === "") continue;
    const m = /^([a-z_]+)\s*=\s*(".*"|'.*'|true|false|\d+)$/.exec(line);
    if (!m) throw new Error(`.stylua.toml:${i + 1}: this runner reads only top-level key = value lines`);
    const [, key, text] = m;
    const value = /^["']/.test(text) ? text.slice(1, -1) : /^\d/.test(text) ? Number(text) : text === "true";
    if (ENUMS[key]) {
      const member = Object.keys(ENUMS[key]).find((name) => name.toLowerCase() === String(value).toLowerCase());
      if (member === undefined) throw new Error(`.stylua.toml:${i + 1}: unknown ${key} "${value}"`);
      out[key] = ENUMS[key][member];
    } else if (SCALARS.has(key)) {
      out[key] = value;
    } else {
      throw new Error(`.stylua.toml:${i + 1}: unknown setting ${key}`);
    }
  }
  return out;
}

// Paths StyLua leaves alone, one per line from the repository root, as the StyLua CLI reads
// .styluaignore (only exact paths here): generated code.
const ignored = new Set(
  (() => {
    try {
      return readFileSync(join(root, ".styluaignore"), "utf8").split("\n");
    } catch {
      return [];
    }
  })()
    .map((line) => line.trim())
    .filter((line) => line && !line.startsWith("#")),
);

function* luauFiles(path) {
  if (ignored.has(relative(root, path))) return;
  if (statSync(path).isDirectory()) {
    for (const entry of readdirSync(path).sort()) yield* luauFiles(join(path, entry));
  } else if (/\.luau?$/.test(path)) {
    yield path;
  }
}

const args = process.argv.slice(2);
const check = args[0] === "--check";
const paths = check ? args.slice(1) : args;
if (paths.length === 0) {
  console.error("usage: node scripts/stylua.mjs [--check] PATH...");
  process.exit(2);
}

const options = settings();
const unformatted = [];
for (const path of paths) {
  for (const file of luauFiles(path)) {
    const source = readFileSync(file, "utf8");
    // formatCode takes ownership of its Config, so each file gets a fresh one.
    const config = Object.assign(stylua.Config.new(), options);
    const formatted = stylua.formatCode(source, config, undefined, stylua.OutputVerification.None);
    if (formatted === source) continue;
    const name = relative(process.cwd(), file);
    if (check) {
      const a = source.split("\n");
      const b = formatted.split("\n");
      let line = 0;
      while (line < a.length && a[line] === b[line]) line++;
      unformatted.push(`${name}:${line + 1}: not formatted by StyLua`);
    } else {
      writeFileSync(file, formatted);
      console.log(`stylua: formatted ${name}`);
    }
  }
}
if (unformatted.length > 0) {
  console.error(unformatted.join("\n"));
  console.error("stylua: run `make format-luau`");
  process.exit(1);
}
