/**
 * The `manifests` input: Kubernetes and KServe manifests for the pushed image, pinned by digest.
 *
 *   kubernetes.yaml   Deployment + Service + HorizontalPodAutoscaler (kubectl apply -f)
 *   kserve.yaml       a KServe InferenceService (serving.kserve.io/v1beta1) with the image as its custom
 *                     predictor container speaking the Open Inference Protocol v2
 *
 * Both run the server as the image's non-root user on a read-only root filesystem (an emptyDir on
 * /tmp), with probes on the v2 health routes and the resource requests from the `cpu` and `memory`
 * inputs. The objects are built by a pure function; only `writeManifests` touches the disk.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { stringify } from 'yaml';

export interface ManifestOptions {
  /** `name@sha256:...` */
  image: string;
  modelName: string;
  modelVersion: string;
  port: number;
  cpu: string;
  memory: string;
}

export const MANIFEST_FILES = { kubernetes: 'kubernetes.yaml', kserve: 'kserve.yaml' } as const;

type Obj = Record<string, unknown>;

/**
 * A DNS-1035 label from the model name (KServe's rule for InferenceService names: lower case letters,
 * digits and '-', starting with a letter), short enough for the `-predictor` suffixes KServe adds.
 */
export function resourceName(modelName: string): string {
  const name = modelName
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/^[^a-z]+/, '')
    .slice(0, 45)
    .replace(/-+$/, '');
  return name || 'model';
}

/** A label value: up to 63 characters of [A-Za-z0-9_.-], alphanumeric at both ends. */
function labelValue(v: string): string {
  return v
    .replace(/[^A-Za-z0-9_.-]+/g, '-')
    .slice(0, 63)
    .replace(/^[^A-Za-z0-9]+|[^A-Za-z0-9]+$/g, '');
}

/** The server container, shared by the Deployment and the InferenceService. */
function serverContainer(o: ManifestOptions, name: string, extraEnv: Obj[] = []): Obj {
  const probe = (path: string, periodSeconds: number, failureThreshold: number) => ({
    httpGet: { path, port: o.port },
    periodSeconds,
    failureThreshold,
  });
  return {
    name,
    image: o.image,
    ports: [{ name: 'http', containerPort: o.port, protocol: 'TCP' }],
    ...(extraEnv.length > 0 && { env: extraEnv }),
    // Loading a large model takes a while: the startup probe gives it two minutes before liveness counts.
    startupProbe: probe('/v2/health/ready', 2, 60),
    readinessProbe: probe('/v2/health/ready', 5, 3),
    livenessProbe: probe('/v2/health/live', 10, 3),
    resources: {
      requests: { cpu: o.cpu, memory: o.memory },
      // Memory is not compressible: a limit equal to the request keeps the pod's class predictable.
      limits: { memory: o.memory },
    },
    securityContext: {
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      runAsNonRoot: true,
      capabilities: { drop: ['ALL'] },
    },
    volumeMounts: [{ name: 'tmp', mountPath: '/tmp' }],
  };
}

const podSecurity = { runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } };
const tmpVolume = [{ name: 'tmp', emptyDir: { sizeLimit: '256Mi' } }];

/** Deployment, Service and HorizontalPodAutoscaler, in apply order. */
export function kubernetesObjects(o: ManifestOptions): Obj[] {
  const name = resourceName(o.modelName);
  const selector = { 'app.kubernetes.io/name': name };
  const labels = { ...selector, 'app.kubernetes.io/version': labelValue(o.modelVersion) };
  const deployment = {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, labels },
    spec: {
      // No replicas: the HorizontalPodAutoscaler owns the count (a re-apply does not reset it).
      selector: { matchLabels: selector },
      template: {
        metadata: {
          labels,
          annotations: {
            'prometheus.io/scrape': 'true',
            'prometheus.io/port': String(o.port),
            'prometheus.io/path': '/metrics',
          },
        },
        spec: {
          automountServiceAccountToken: false,
          securityContext: podSecurity,
          // Above the server's SHUTDOWN_TIMEOUT_MS (10 s): in-flight requests finish on a rollout.
          terminationGracePeriodSeconds: 30,
          containers: [serverContainer(o, 'server')],
          volumes: tmpVolume,
        },
      },
    },
  };
  const service = {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name, labels },
    spec: {
      type: 'ClusterIP',
      selector,
      ports: [{ name: 'http', port: 80, targetPort: 'http', protocol: 'TCP' }],
    },
  };
  const hpa = {
    apiVersion: 'autoscaling/v2',
    kind: 'HorizontalPodAutoscaler',
    metadata: { name, labels },
    spec: {
      scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name },
      minReplicas: 1,
      maxReplicas: 5,
      metrics: [
        {
          type: 'Resource',
          resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 70 } },
        },
      ],
    },
  };
  return [deployment, service, hpa];
}

/**
 * A KServe InferenceService with the image as its custom predictor. KServe reads a custom container's
 * protocol from its `PROTOCOL` environment variable (the custom predictor's protocolVersion), and its
 * container must be named `kserve-container`.
 */
export function inferenceService(o: ManifestOptions): Obj {
  const name = resourceName(o.modelName);
  return {
    apiVersion: 'serving.kserve.io/v1beta1',
    kind: 'InferenceService',
    metadata: {
      name,
      labels: { 'app.kubernetes.io/name': name, 'app.kubernetes.io/version': labelValue(o.modelVersion) },
    },
    spec: {
      predictor: {
        minReplicas: 1,
        maxReplicas: 5,
        securityContext: podSecurity,
        containers: [serverContainer(o, 'kserve-container', [{ name: 'PROTOCOL', value: 'v2' }])],
        volumes: tmpVolume,
      },
    },
  };
}

const yamlDocs = (docs: Obj[]): string => docs.map((d) => stringify(d, { lineWidth: 0 })).join('---\n');

/** Writes both manifest files into `dir`; returns their paths. */
export async function writeManifests(dir: string, o: ManifestOptions): Promise<string[]> {
  await mkdir(dir, { recursive: true });
  const header = `# ${o.modelName} ${o.modelVersion}, written by package-onnx-model for ${o.image}\n`;
  const files: Array<[string, Obj[]]> = [
    [MANIFEST_FILES.kubernetes, kubernetesObjects(o)],
    [MANIFEST_FILES.kserve, [inferenceService(o)]],
  ];
  const paths: string[] = [];
  for (const [file, docs] of files) {
    const path = join(dir, file);
    await writeFile(path, header + yamlDocs(docs));
    paths.push(path);
  }
  return paths;
}
