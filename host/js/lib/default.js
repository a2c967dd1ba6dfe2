/**
 * The default export `DataStoreModule`: a module on the embedded store (`LmdbStore` at
 * `DATASTORE_PATH` or `./.datastore`), created on first use, with bind-to-close on SIGINT and
 * SIGTERM (every session saves, unlocks and is destroyed, then the process exits).
 */
import { Response } from "./module.js";

export function defaultModule(createModule, Store) {
  let module;
  const get = () => (module ??= createModule({ store: new Store(), bindToClose: true }));
  return Object.freeze({
    Response,
    new: (...args) => get().new(...args),
    hidden: (...args) => get().hidden(...args),
    find: (...args) => get().find(...args),
    BindToClose: () => get().BindToClose(),
  });
}
