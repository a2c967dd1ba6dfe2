// The assertion every store test makes about a refusal: a StoreError of the given kind, its
// message matching `pattern` when one is given.
import assert from "node:assert/strict";
import { StoreError } from "../../../pkg/node.mjs";

export async function rejectsWith(promise, kind, pattern) {
  await assert.rejects(promise, (e) => {
    assert.ok(e instanceof StoreError, `expected a StoreError, got ${e}`);
    assert.equal(e.kind, kind, `kind of "${e.message}"`);
    if (pattern) assert.match(e.message, pattern);
    return true;
  });
}
