/**
 * The CI share of the server fuzzing (`npm run fuzz:server` runs 10,000+ requests): about 2,000
 * fast-check mutations of valid requests for every route, against the shipped bundle with real
 * onnxruntime (a text model and a tensor model), 8 at a time. No answer may be 500 or more (503 is
 * allowed: load), every error must be JSON, no request may go unanswered, no server may exit, and
 * both still answer valid requests afterwards. Every violation is counted, not shrunk (a shrunk
 * report of multi-megabyte bodies buries the cause): the failure lists up to 20 offending requests
 * with their problem, and FUZZ_SEED replays the run.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { fixtureModels } from '../fixtures/models.js';
import { fuzzServers, tensorSeeds, textSeeds } from './fuzz.js';
import { postJson, startServer, type RunningServer } from './helpers.js';

/**
 * A fixed seed keeps CI repeatable (FUZZ_SEED overrides it to replay a failure); `npm run fuzz:server`
 * explores new seeds.
 */
const FUZZ_SEED = Number(process.env['FUZZ_SEED'] ?? 20261203);

let text: RunningServer;
let tensor: RunningServer;

beforeAll(async () => {
  const models = await fixtureModels();
  [text, tensor] = await Promise.all([startServer(models.sentiment), startServer(models.tensor)]);
});

afterAll(async () => {
  await Promise.all([text?.stop(), tensor?.stop()]);
});

describe('fuzzing the server', () => {
  it('2,000 mutated requests: no 5xx but 503, JSON errors, no dropped request, no crash', async () => {
    const counts = await fuzzServers(
      [
        { name: 'sentiment', server: text, seeds: textSeeds('sentiment') },
        { name: 'tensor', server: tensor, seeds: tensorSeeds('tensor') },
      ],
      { requests: 2000, stopAtFirst: false, seed: FUZZ_SEED },
    );
    expect(counts.requests).toBeGreaterThanOrEqual(2000);
    expect({
      serverErrors: counts.serverErrors,
      badErrorBodies: counts.badErrorBodies,
      noAnswer: counts.noAnswer,
      crashes: counts.crashes,
      examples: counts.examples,
    }).toEqual({ serverErrors: 0, badErrorBodies: 0, noAnswer: 0, crashes: 0, examples: [] });
    // The mutations reach past the parsers: some requests still succeed, many are refused.
    expect(counts.byClass['2xx']).toBeGreaterThan(100);
    expect(counts.byClass['4xx']).toBeGreaterThan(500);
  });

  it('both servers still answer valid requests afterwards', async () => {
    const predict = await postJson(`${text.url}/predict`, ['I love this']);
    expect(predict.status).toBe(200);
    expect(predict.body).toMatchObject({ positive: true });
    const v1 = await postJson(`${tensor.url}/v1/models/tensor:predict`, {
      instances: [[5.1, 3.5, 1.4, 0.2]],
    });
    expect(v1.status).toBe(200);
  });
});
