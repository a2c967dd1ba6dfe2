// A store that fails on purpose: every call goes through `fault` first.

/**
 * `store` as a server sees it, except the calls `fault(method, args)` answers: it returns a
 * function that stands in for the call, or nothing to let the call through.
 */
export function faulty(store, fault) {
  return new Proxy(store, {
    get(target, name) {
      const v = Reflect.get(target, name);
      if (typeof v !== "function") return v;
      return (...args) => {
        const instead = fault(name, args);
        return instead ? instead() : v.apply(target, args);
      };
    },
  });
}
