/**
 * The three `Reflect` metadata functions that tsyringe (a dependency of @peculiar/x509) looks for when it loads.
 * Nothing here emits decorator metadata, so a small per-target map is all that is needed; a full polyfill is not.
 * Import this module before @peculiar/x509.
 */
type MetadataReflect = typeof Reflect & {
  getMetadata?: (key: unknown, target: object) => unknown;
  getOwnMetadata?: (key: unknown, target: object) => unknown;
  defineMetadata?: (key: unknown, value: unknown, target: object) => void;
};

const reflect = Reflect as MetadataReflect;

if (typeof reflect.getMetadata !== "function") {
  const store = new WeakMap<object, Map<unknown, unknown>>();
  const own = (key: unknown, target: object): unknown => store.get(target)?.get(key);
  reflect.getOwnMetadata = own;
  reflect.getMetadata = (key, target) => {
    for (let t: object | null = target; t !== null; t = Object.getPrototypeOf(t) as object | null) {
      const value = own(key, t);
      if (value !== undefined) return value;
    }
    return undefined;
  };
  reflect.defineMetadata = (key, value, target) => {
    const map = store.get(target) ?? new Map<unknown, unknown>();
    map.set(key, value);
    store.set(target, map);
  };
}

export {};
