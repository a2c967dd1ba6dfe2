// The package's two wasm files (docs/DESIGN.md, "Two wasm files"): the one a Node server loads
// stays within its size target, and the one with the emulator loads only for a MemoryStore.
// Sizes are measured by bench/size.mjs, which `make bench` prints.
import assert from "node:assert/strict";
import { statSync } from "node:fs";
import { createRequire } from "node:module";
import { test } from "node:test";
import { MODULE_WASM_LIMIT, wasmSizes } from "../../bench/size.mjs";

const pkg = new URL("../../pkg/", import.meta.url);

test("the wasm a Node server loads is at most 150 KiB gzipped", () => {
  const modules = wasmSizes().filter(({ file }) => file.endsWith("/datastore_module_bg.wasm"));
  assert.equal(modules.length, 2, "pkg/web and pkg/node each ship it");
  for (const { file, gzip } of modules) {
    assert.ok(
      gzip <= MODULE_WASM_LIMIT,
      `${file} is ${(gzip / 1024).toFixed(1)} KiB gzipped, over the ${MODULE_WASM_LIMIT / 1024} KiB target`,
    );
  }
});

test("Node compiles the emulator's wasm only when the first MemoryStore is made, ESM and CommonJS", async () => {
  // Every glue compiles its wasm with `new WebAssembly.Module(bytes)`: record the sizes.
  const compiled = [];
  const Module = WebAssembly.Module;
  WebAssembly.Module = class extends Module {
    constructor(bytes) {
      super(bytes);
      compiled.push(bytes.byteLength);
    }
  };
  try {
    const size = (file) => statSync(new URL(file, pkg)).size;
    const module = size("web/datastore_module_bg.wasm");
    const full = size("web/datastore_module_full_bg.wasm");

    const esm = await import("../../pkg/node.mjs");
    esm.decompress(esm.compress({ Coins: 1 }));
    const never = async () => undefined;
    esm.createModule({ store: new Proxy({}, { get: () => never }) }); // a store it never calls
    assert.deepEqual(compiled, [module], "importing, the codec and createModule need only the module wasm");
    await new esm.MemoryStore().close();
    await new esm.MemoryStore().close();
    assert.deepEqual(compiled, [module, full], "the first MemoryStore loads the full wasm, once");

    const cjs = createRequire(import.meta.url)("../../pkg/index.cjs");
    cjs.decompress(cjs.compress({ Coins: 1 }));
    assert.deepEqual(compiled, [module, full, size("node/datastore_module_bg.wasm")]);
    await new cjs.MemoryStore().close();
    await new cjs.MemoryStore().close();
    assert.deepEqual(compiled.slice(3), [size("node/datastore_module_full_bg.wasm")]);
  } finally {
    WebAssembly.Module = Module;
  }
});

test("the three entries export the same names: browsers' index.mjs, Node's node.mjs, index.cjs", async () => {
  const names = (m) => Object.keys(m).sort();
  const browser = await import("../../pkg/index.mjs");
  const node = await import("../../pkg/node.mjs");
  const cjs = createRequire(import.meta.url)("../../pkg/index.cjs");
  assert.deepEqual(names(browser), names(node));
  assert.deepEqual(
    names(cjs).filter((n) => n !== "__esModule"),
    names(node),
  );
  // Under Node, the browser entry works too (it reads its wasm from disk, never importing node:).
  assert.deepEqual(browser.decompress(browser.compress({ Coins: 1 })), { Coins: 1 });
  await new browser.MemoryStore().close();
});
