/** The bounded worker pool the downloads use. */
import { expect, test } from '@jest/globals';
import { mapConcurrent } from '../../src/util/concurrency.js';

const tick = () => new Promise<void>((resolve) => setImmediate(resolve));

test('never more than the limit in flight; results in input order', async () => {
  let inFlight = 0;
  let most = 0;
  const out = await mapConcurrent([5, 1, 4, 2, 3, 0, 6], 3, async (x, i) => {
    inFlight++;
    most = Math.max(most, inFlight);
    for (let k = 0; k < x; k++) await tick();
    inFlight--;
    return x * 10 + i;
  });
  expect(out).toEqual([50, 11, 42, 23, 34, 5, 66]);
  expect(most).toBe(3);
});

test('the first failure rejects after running work settles, and stops new work', async () => {
  const started: number[] = [];
  let running = 0;
  const p = mapConcurrent([0, 1, 2, 3, 4, 5], 2, async (x) => {
    started.push(x);
    running++;
    await tick();
    running--;
    if (x === 1) throw new Error('boom');
    return x;
  });
  await expect(p).rejects.toThrow('boom');
  expect(running).toBe(0);
  expect(started.length).toBeLessThan(6);
});
