/** Helpers shared by the protocol routes: input validation, model-name checks and timing headers. */
import type { FastifyReply } from 'fastify';
import { HttpError } from '../errors.js';
import type { InferenceService, Timing } from '../service.js';

/** Validates a list of texts: 400 for empty or non-string entries, 413 above MAX_TEXTS. */
export function parseTexts(value: unknown, maxTexts: number, what = 'body'): string[] {
  const list = typeof value === 'string' ? [value] : value;
  if (!Array.isArray(list)) {
    throw new HttpError(400, `${what} must be a JSON array of strings, e.g. ["I love this"]`);
  }
  if (list.length === 0) throw new HttpError(400, `${what} holds no text; send at least one string`);
  if (list.length > maxTexts) {
    throw new HttpError(413, `${list.length} texts exceed the limit of ${maxTexts} per request (MAX_TEXTS)`);
  }
  list.forEach((t, i) => {
    if (typeof t !== 'string') {
      throw new HttpError(400, `${what}[${i}] must be a string, got ${t === null ? 'null' : typeof t}`);
    }
    if (t.trim() === '') throw new HttpError(400, `${what}[${i}] is an empty string`);
  });
  return list as string[];
}

/** 404 unless the URL names this model (and, when given, its version). */
export function checkModel(service: InferenceService, name: string, version?: string): void {
  if (name !== service.info.name) {
    throw new HttpError(404, `model '${name}' not found; this server serves '${service.info.name}'`);
  }
  if (version !== undefined && version !== service.info.version) {
    throw new HttpError(
      404,
      `version '${version}' of model '${name}' not found; this server serves version '${service.info.version}'`,
    );
  }
}

export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Sets the timing headers of a prediction reply (milliseconds). */
export function timingHeaders(reply: FastifyReply, timing: Timing): void {
  reply.header('x-queue-time', timing.queueMs.toFixed(3));
  reply.header('x-inference-time', timing.inferenceMs.toFixed(3));
  reply.header('x-tokenization-time', timing.tokenizeMs.toFixed(3));
}
