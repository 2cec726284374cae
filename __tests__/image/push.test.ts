/** The push scheduler: bounded concurrency, and a first failure stops everything else before it returns. */
import { describe, expect, it } from '@jest/globals';
import { mapConcurrent } from '../../src/util/concurrency.js';

describe('mapConcurrent with an abort controller', () => {
  it('runs n at a time', async () => {
    let running = 0;
    let peak = 0;
    const done: number[] = [];
    await mapConcurrent([1, 2, 3, 4, 5, 6, 7], 3, async (i) => {
      running++;
      peak = Math.max(peak, running);
      await new Promise((r) => setImmediate(r));
      running--;
      done.push(i);
    });
    expect(peak).toBe(3);
    expect(done.sort()).toEqual([1, 2, 3, 4, 5, 6, 7]);
  });

  it('the first failure aborts the others, starts nothing new, and is thrown once all have stopped', async () => {
    const abort = new AbortController();
    const started: number[] = [];
    const settled: number[] = [];
    const err = await mapConcurrent(
      [1, 2, 3, 4, 5, 6],
      3,
      async (i) => {
        started.push(i);
        try {
          if (i === 1) {
            await new Promise((r) => setImmediate(r));
            throw new Error('denied');
          }
          // an upload in flight: ends only when aborted
          await new Promise((_, reject) =>
            abort.signal.addEventListener('abort', () => reject(new Error('aborted'))),
          );
        } finally {
          settled.push(i);
        }
      },
      { abort },
    ).catch((e: unknown) => e);
    expect(String(err)).toBe('Error: denied');
    expect(abort.signal.aborted).toBe(true);
    expect(started.sort()).toEqual([1, 2, 3]);
    expect(settled.sort()).toEqual([1, 2, 3]);
  });
});
