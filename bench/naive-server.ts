/**
 * The server a user would write by hand (benchmark baseline (b)): one ONNX Runtime session with default
 * threading, tokenize + run inside the HTTP handler, no worker threads, no batching.
 * Env: MODEL_DIR, PORT (0 = any; the chosen port is printed as `listening <port>`).
 */
import { createServer } from 'node:http';
import * as ort from 'onnxruntime-node';
import { Classifier } from '../server-template/src/classify.js';
import { readModelDir } from '../server-template/src/model-dir.js';
import { textFeeds, textPipelineFor } from './text-pipeline.js';

const files = await readModelDir(process.env.MODEL_DIR ?? 'model', undefined);
const session = await ort.InferenceSession.create(files.onnxPath);
const text = textPipelineFor(session.inputNames, files);
const classifier = new Classifier(files.config, 2);

const server = createServer((req, res) => {
  let body = '';
  req.on('data', (chunk: Buffer) => (body += chunk.toString()));
  req.on('end', () => {
    void (async () => {
      try {
        const texts = JSON.parse(body) as string[];
        const out = await session.run(textFeeds(text, texts));
        const logits = out[session.outputNames[0] as string]?.data as Float32Array;
        const predictions = texts.map((_, i) => classifier.classify(logits.subarray(i * 2, i * 2 + 2)));
        res.setHeader('content-type', 'application/json');
        res.end(
          JSON.stringify({
            positive: predictions[0]?.positive,
            predictions: predictions.map((p) => ({
              label: p.top.label,
              score: p.top.score,
              positive: p.positive,
            })),
          }),
        );
      } catch (err) {
        res.statusCode = 400;
        res.end(JSON.stringify({ error: (err as Error).message }));
      }
    })();
  });
});
server.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => {
  const address = server.address();
  console.log(`listening ${typeof address === 'object' && address ? address.port : 0}`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
