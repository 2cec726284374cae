/**
 * `npm run fuzz:server [-- --requests N --seed S]`: fuzzes the shipped server bundle (real onnxruntime,
 * a text model and a tensor model, one worker each) with fast-check mutations of valid requests for
 * every route, and prints the counts: requests, answers by status class and status, answers of 500 or
 * more other than 503, error answers without a JSON body, requests without an answer, crashed
 * servers. Then checks that both servers still answer a valid request. Exits 1 on any violation.
 *
 * Needs `npm run bundle -- server` first (it runs server-template/dist/index.js).
 */
import { parseArgs } from 'node:util';
import { fixtureModels } from '../__tests__/fixtures/models.js';
import { fuzzServers, tensorSeeds, textSeeds } from '../__tests__/server/fuzz.js';
import { postJson, startServer } from '../__tests__/server/helpers.js';

const { values } = parseArgs({
  options: { requests: { type: 'string', default: '10000' }, seed: { type: 'string' } },
});
const requests = Number(values.requests);
const seed = values.seed === undefined ? Date.now() % 2 ** 31 : Number(values.seed);

const models = await fixtureModels();
const [text, tensor] = await Promise.all([startServer(models.sentiment), startServer(models.tensor)]);
let failed: boolean;
try {
  const started = performance.now();
  const counts = await fuzzServers(
    [
      { name: 'sentiment', server: text, seeds: textSeeds('sentiment') },
      { name: 'tensor', server: tensor, seeds: tensorSeeds('tensor') },
    ],
    { requests, seed, stopAtFirst: false },
  );
  const seconds = (performance.now() - started) / 1000;
  const after = await Promise.all([
    postJson(`${text.url}/predict`, ['I love this']).catch(() => undefined),
    postJson(`${tensor.url}/v1/models/tensor:predict`, { instances: [[5.1, 3.5, 1.4, 0.2]] }).catch(
      () => undefined,
    ),
  ]);
  const answered = after.every((r) => r?.status === 200);
  console.log(
    JSON.stringify(
      {
        seed,
        seconds: Math.round(seconds * 10) / 10,
        requests: counts.requests,
        byClass: counts.byClass,
        byStatus: counts.byStatus,
        serverErrors: counts.serverErrors,
        badErrorBodies: counts.badErrorBodies,
        noAnswer: counts.noAnswer,
        crashes: counts.crashes,
        validRequestAnsweredAfterwards: answered,
      },
      null,
      2,
    ),
  );
  for (const e of counts.examples) console.log(`VIOLATION ${e.problem}\n  ${e.request}`);
  failed = counts.serverErrors + counts.badErrorBodies + counts.noAnswer + counts.crashes > 0 || !answered;
} finally {
  await Promise.all([text.stop(), tensor.stop()]);
}
process.exit(failed ? 1 : 0);
