import { describe, expect, it } from '@jest/globals';
import { parseRetryAfter, RetryableError, withRetry } from '../src/util/retry.js';

describe('withRetry', () => {
  it('retries a retryable failure, honouring Retry-After, then succeeds', async () => {
    const waits: number[] = [];
    let calls = 0;
    const result = await withRetry(
      async () => {
        calls++;
        if (calls < 3) throw new RetryableError('HTTP 429', 1500);
        return 'ok';
      },
      { sleep: async (ms) => void waits.push(ms) },
    );
    expect(result).toBe('ok');
    expect(waits).toEqual([1500, 1500]);
  });

  it('does not retry other errors', async () => {
    let calls = 0;
    await expect(
      withRetry(async () => {
        calls++;
        throw new Error('HTTP 404');
      }),
    ).rejects.toThrow('HTTP 404');
    expect(calls).toBe(1);
  });

  it('stops after the attempt limit with the last error', async () => {
    let calls = 0;
    await expect(
      withRetry(
        async () => {
          calls++;
          throw Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });
        },
        { attempts: 4, sleep: async () => undefined },
      ),
    ).rejects.toThrow('socket hang up');
    expect(calls).toBe(4);
  });

  it('parses Retry-After seconds and dates', () => {
    expect(parseRetryAfter('2')).toBe(2000);
    expect(parseRetryAfter(new Date(10_000).toUTCString(), 4_000)).toBe(6000);
    expect(parseRetryAfter('soon')).toBeUndefined();
  });
});
