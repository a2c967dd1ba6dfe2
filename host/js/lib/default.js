/**
 * The default export `DataStoreModule`: a module on the embedded store (`LmdbStore` at
 * `DATASTORE_PATH` or `./.datastore`), created on first use, with bind-to-close on SIGINT and
 * SIGTERM (every session saves, unlocks and is destroyed, the application's `onShutdown` hook
 * runs, then the process exits). `configure` changes that before the first use: the path,
 * the signal handling (off for an application that runs its own shutdown and calls
 * `BindToClose` itself), the hook, and the observers.
 */
import { describe } from "./clock.js";
import { Response } from "./module.js";
import { checkObservers } from "./observe.js";

const OPTIONS = ["path", "handleSignals", "onShutdown", "logger", "onEvent"];

export function defaultModule(createModule, Store) {
  let module;
  let options = {};
  const get = () => {
    if (module !== undefined) return module;
    const { path, handleSignals = true, onShutdown, logger, onEvent } = options;
    const store = new Store(path === undefined ? {} : { path });
    module = createModule({ store, bindToClose: handleSignals, onShutdown, logger, onEvent });
    return module;
  };
  return Object.freeze({
    Response,
    new: (...args) => get().new(...args),
    hidden: (...args) => get().hidden(...args),
    find: (...args) => get().find(...args),
    BindToClose: () => get().BindToClose(),
    sessions: () => (module === undefined ? [] : module.sessions()),
    stats: () => get().stats(),
    configure(next) {
      if (module !== undefined) {
        throw new Error("DataStoreModule.configure: call it before the first new/hidden/find/BindToClose");
      }
      if (next === null || typeof next !== "object") {
        throw new TypeError(`DataStoreModule.configure: options must be an object, got ${describe(next)}`);
      }
      const unknown = Object.keys(next).filter((name) => !OPTIONS.includes(name));
      if (unknown.length > 0) {
        throw new TypeError(
          `DataStoreModule.configure: unknown option ${unknown.join(", ")} (known: ${OPTIONS.join(", ")})`,
        );
      }
      if (next.handleSignals !== undefined && typeof next.handleSignals !== "boolean") {
        throw new TypeError(
          `DataStoreModule.configure: handleSignals must be a boolean, got ${describe(next.handleSignals)}`,
        );
      }
      if (next.path !== undefined && (typeof next.path !== "string" || next.path === "")) {
        throw new TypeError("DataStoreModule.configure: path must be a non-empty string");
      }
      checkObservers("DataStoreModule.configure: options", next);
      if (next.onShutdown !== undefined && typeof next.onShutdown !== "function") {
        throw new TypeError(
          `DataStoreModule.configure: onShutdown must be a function, got ${describe(next.onShutdown)}`,
        );
      }
      options = { ...options, ...next };
    },
  });
}
