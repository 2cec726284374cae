/**
 * Prometheus metrics (prom-client), one registry per server. Besides serving metrics (requests, latency,
 * queue, batching, model load), it exports drift signals so that data and prediction drift show up in
 * Prometheus without another service: predictions by label, a score histogram and input token lengths
 * (truncations counted).
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

export class Metrics {
  readonly registry = new Registry();
  readonly requests: Counter<'route' | 'method' | 'status'>;
  readonly requestDuration: Histogram<'route'>;
  readonly queueWait: Histogram;
  readonly tokenization: Histogram;
  readonly inference: Histogram;
  readonly batchSize: Histogram;
  readonly queueDepth: Gauge;
  /**
   * What the gauges that change on every batch read when /metrics is scraped, set by their owners:
   * setting them on every change was a measurable part of a small model's per-request cost, and a
   * scrape sees the value of that moment either way.
   */
  readonly sources = { queuedRows: (): number => 0, servingWorkers: (): number => 0 };
  readonly rejected: Counter<'reason'>;
  readonly modelLoad: Gauge;
  readonly workers: Gauge;
  readonly workerRestarts: Counter;
  readonly predictions: Counter<'label'>;
  readonly score: Histogram<'label'>;
  readonly inputTokens: Histogram;
  readonly truncated: Counter;

  constructor(modelName: string, modelVersion: string) {
    const registers = [this.registry];
    this.registry.setDefaultLabels({ model: modelName, version: modelVersion });
    collectDefaultMetrics({ register: this.registry });
    this.requests = new Counter({
      name: 'http_requests_total',
      help: 'HTTP requests by route, method and status code.',
      labelNames: ['route', 'method', 'status'],
      registers,
    });
    this.requestDuration = new Histogram({
      name: 'http_request_duration_seconds',
      help: 'HTTP request duration by route.',
      labelNames: ['route'],
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.queueWait = new Histogram({
      name: 'inference_queue_wait_seconds',
      help: 'Time a row waited in the batching queue before its batch started.',
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.tokenization = new Histogram({
      name: 'tokenization_seconds',
      help: 'Time to tokenize the texts of one request.',
      buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1],
      registers,
    });
    this.inference = new Histogram({
      name: 'inference_seconds',
      help: 'ONNX Runtime run() time per batch.',
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.batchSize = new Histogram({
      name: 'inference_batch_size',
      help: 'Rows per inference batch.',
      buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256],
      registers,
    });
    const sources = this.sources;
    this.queueDepth = new Gauge({
      name: 'inference_queue_depth',
      help: 'Rows waiting for an inference worker.',
      registers,
      collect() {
        this.set(sources.queuedRows());
      },
    });
    this.rejected = new Counter({
      name: 'inference_rejected_total',
      help: 'Requests refused or abandoned: queue_full, timeout, shutting_down.',
      labelNames: ['reason'],
      registers,
    });
    this.modelLoad = new Gauge({
      name: 'model_load_seconds',
      help: 'Time ONNX Runtime took to load the model (first worker).',
      registers,
    });
    this.workers = new Gauge({
      name: 'inference_workers',
      help: 'Inference worker threads able to serve.',
      registers,
      collect() {
        this.set(sources.servingWorkers());
      },
    });
    this.workerRestarts = new Counter({
      name: 'inference_worker_restarts_total',
      help: 'Inference workers replaced after they died.',
      registers,
    });
    this.predictions = new Counter({
      name: 'predictions_total',
      help: 'Predicted (top) label per text: watch for prediction drift.',
      labelNames: ['label'],
      registers,
    });
    this.score = new Histogram({
      name: 'prediction_score',
      help: 'Score of the predicted label per text: watch for confidence drift.',
      labelNames: ['label'],
      buckets: [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99, 1],
      registers,
    });
    this.inputTokens = new Histogram({
      name: 'input_tokens',
      help: 'Tokens per input text after truncation: watch for data drift.',
      buckets: [4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048],
      registers,
    });
    this.truncated = new Counter({
      name: 'input_truncated_total',
      help: 'Input texts cut to the maximum sequence length.',
      registers,
    });
  }
}
