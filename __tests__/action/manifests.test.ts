/**
 * The `manifests` input's Kubernetes and KServe objects, validated against the Kubernetes API schemas
 * (kubernetes-models), as written to disk and read back.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { ObjectMeta } from '@kubernetes-models/apimachinery/apis/meta/v1/ObjectMeta';
import { Deployment } from 'kubernetes-models/apps/v1';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2';
import { Container, PodSecurityContext, Service, Volume } from 'kubernetes-models/v1';
import { resourceName, writeManifests, type ManifestOptions } from '../../src/manifests.js';

const DIGEST = `sha256:${'ab'.repeat(32)}`;
const opts: ManifestOptions = {
  image: `ghcr.io/octo-org/roberta-sequence-classification-9@${DIGEST}`,
  modelName: 'roberta-sequence-classification-9',
  modelVersion: '1.0+build.7',
  port: 8080,
  cpu: '500m',
  memory: '2Gi',
};

let dir: string;
let kubernetes: Array<Record<string, any>>; // eslint-disable-line @typescript-eslint/no-explicit-any
let kserve: Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'pom-manifests-'));
  const files = await writeManifests(join(dir, 'k8s'), opts);
  expect(files).toEqual([join(dir, 'k8s', 'kubernetes.yaml'), join(dir, 'k8s', 'kserve.yaml')]);
  kubernetes = parseAllDocuments(await readFile(files[0] as string, 'utf8')).map((d) => d.toJS());
  [kserve] = parseAllDocuments(await readFile(files[1] as string, 'utf8')).map((d) => d.toJS());
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('kubernetes.yaml', () => {
  it('holds a Deployment, a Service and a HorizontalPodAutoscaler that validate against the API schemas', () => {
    expect(kubernetes.map((o) => `${o.apiVersion} ${o.kind}`)).toEqual([
      'apps/v1 Deployment',
      'v1 Service',
      'autoscaling/v2 HorizontalPodAutoscaler',
    ]);
    const [deployment, service, hpa] = kubernetes;
    expect(() => new Deployment(deployment).validate()).not.toThrow();
    expect(() => new Service(service).validate()).not.toThrow();
    expect(() => new HorizontalPodAutoscaler(hpa).validate()).not.toThrow();
    // The schema check has teeth: a mistyped field fails it.
    const broken = structuredClone(deployment) as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
    broken.spec.template.spec.containers[0].ports[0].containerPort = 'http';
    expect(() => new Deployment(broken).validate()).toThrow(/containerPort/);
  });

  it('runs the pushed image by digest, non-root on a read-only root, probed on the v2 health routes', () => {
    const pod = kubernetes[0]?.spec.template.spec;
    const c = pod.containers[0];
    expect(c.image).toBe(opts.image);
    expect(c.readinessProbe.httpGet).toEqual({ path: '/v2/health/ready', port: 8080 });
    expect(c.livenessProbe.httpGet).toEqual({ path: '/v2/health/live', port: 8080 });
    expect(c.securityContext).toMatchObject({
      runAsNonRoot: true,
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
    });
    expect(pod.securityContext.runAsNonRoot).toBe(true);
    expect(c.resources).toEqual({ requests: { cpu: '500m', memory: '2Gi' }, limits: { memory: '2Gi' } });
    expect(c.volumeMounts).toEqual([{ name: 'tmp', mountPath: '/tmp' }]);
    expect(pod.volumes[0]).toMatchObject({ name: 'tmp', emptyDir: {} });
  });

  it('the Service selects the pods and the autoscaler scales the Deployment', () => {
    const [deployment, service, hpa] = kubernetes;
    expect(deployment?.metadata.name).toBe('roberta-sequence-classification-9');
    expect(deployment?.metadata.labels['app.kubernetes.io/version']).toBe('1.0-build.7');
    expect(deployment?.spec.template.metadata.labels).toMatchObject(service?.spec.selector);
    expect(service?.spec.ports[0]).toMatchObject({ port: 80, targetPort: 'http' });
    expect(hpa?.spec.scaleTargetRef).toEqual({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      name: deployment?.metadata.name,
    });
    expect(deployment?.spec.replicas).toBeUndefined();
  });
});

describe('kserve.yaml', () => {
  it('is a v1beta1 InferenceService with the image as its custom predictor speaking protocol v2', () => {
    expect(kserve.apiVersion).toBe('serving.kserve.io/v1beta1');
    expect(kserve.kind).toBe('InferenceService');
    expect(() => new ObjectMeta(kserve.metadata).validate()).not.toThrow();
    const predictor = kserve.spec.predictor;
    expect(predictor.containers).toHaveLength(1);
    const c = predictor.containers[0];
    // KServe's custom predictor: the container must be kserve-container; PROTOCOL sets its protocol.
    expect(c.name).toBe('kserve-container');
    expect(c.env).toEqual([{ name: 'PROTOCOL', value: 'v2' }]);
    expect(c.image).toBe(opts.image);
    expect(() => new Container(c).validate()).not.toThrow();
    expect(() => new PodSecurityContext(predictor.securityContext).validate()).not.toThrow();
    for (const v of predictor.volumes) expect(() => new Volume(v).validate()).not.toThrow();
    expect(c.securityContext.readOnlyRootFilesystem).toBe(true);
  });
});

describe('resourceName', () => {
  it.each([
    ['roberta-sequence-classification-9', 'roberta-sequence-classification-9'],
    ['Iris_Model.v2', 'iris-model-v2'],
    ['9lives', 'lives'],
    ['x'.repeat(80), 'x'.repeat(45)],
    ['___', 'model'],
  ])('%s -> %s', (name, expected) => expect(resourceName(name)).toBe(expected));
});
