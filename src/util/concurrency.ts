/**
 * Runs `fn` over `items` with at most `limit` in flight (the model download's files and ranges, the
 * push's blobs). The first failure starts nothing new and aborts `abort` (so uploads and downloads in
 * flight stop instead of retrying in the background); the call returns once every started `fn` has
 * settled and rejects with that first failure. A dozen lines: not worth a dependency such as p-limit.
 */
export async function mapConcurrent<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T, index: number) => Promise<R>,
  opts: { abort?: AbortController } = {},
): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  let first: { error: unknown } | undefined;
  const worker = async (): Promise<void> => {
    while (!first && !opts.abort?.signal.aborted && next < items.length) {
      const i = next++;
      try {
        results[i] = await fn(items[i]!, i);
      } catch (e) {
        first ??= { error: e };
        opts.abort?.abort();
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  if (first) throw first.error;
  return results;
}
