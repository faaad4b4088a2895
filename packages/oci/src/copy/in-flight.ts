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

/**
 * Uploads of a blob to any repository of one destination registry, in flight: a copy into another repository waits
 * for the first upload and then mounts the blob from there (one transfer per registry, not per repository, when a
 * sync copies many repositories built on the same base layers).
 */
const uploads = new WeakMap<object, Map<string, Promise<unknown>>>();

export function uploadInFlight(registry: object, digest: string): Promise<unknown> | undefined {
  return uploads.get(registry)?.get(digest);
}

export function trackUpload<T>(registry: object, digest: string, upload: Promise<T>): Promise<T> {
  let pending = uploads.get(registry);
  if (pending === undefined) {
    pending = new Map();
    uploads.set(registry, pending);
  }
  const map = pending;
  if (!map.has(digest)) {
    map.set(digest, upload);
    const forget = (): void => {
      if (map.get(digest) === upload) map.delete(digest);
    };
    upload.then(forget, forget);
  }
  return upload;
}
