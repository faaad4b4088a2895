/**
 * Writes to one destination registry that are in flight, shared between the
 * copies running at once in this process: two copies that need the same blob
 * or the same manifest in the same repository wait for one write instead of
 * racing two (a registry may store a manifest non-atomically, and two equal
 * writes at once can fail each other's digest check).
 */
const inFlight = new WeakMap<object, Map<string, Promise<unknown>>>();

export function shareInFlight<T>(registry: object, key: string, write: () => Promise<T>): Promise<T> {
  let writes = inFlight.get(registry);
  if (writes === undefined) {
    writes = new Map();
    inFlight.set(registry, writes);
  }
  const pending = writes.get(key);
  if (pending !== undefined) return pending as Promise<T>;
  const started = write().finally(() => writes.delete(key));
  writes.set(key, started);
  return started;
}
