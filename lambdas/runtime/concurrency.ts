/**
 * Runs `work` over `items` with at most `limit` in flight, in order of start. Work that finishes
 * synchronously (returns no promise) is not awaited: the next item starts at once, without a microtask.
 */
export async function forEachConcurrently<T>(
  items: readonly T[],
  limit: number,
  work: (item: T) => Promise<void> | undefined,
): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const pending = work(items[next++] as T);
      if (pending) await pending;
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
}
