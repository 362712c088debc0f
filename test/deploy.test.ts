/**
 * Offline validation of deploy/: the kustomize overlays rendered by `kubectl kustomize` (kustomize
 * v5 built into kubectl), the Helm chart rendered by deploy/helm/render (Go text/template + Sprig,
 * Helm's engine, built here from Debian's Go packages: Debian has no helm), every object checked
 * against the Kubernetes OpenAPI schemas (npm kubernetes-models 4.5.1, @kubernetes-models/
 * prometheus-operator 5.0.1), the chart's values against values.schema.json (ajv), and the
 * pipelines inside against passerelle's own config loader. The compose stack and the Dockerfile
 * are checked statically: no Docker engine runs here.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { Ajv } from 'ajv';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
// One module per kind: the packages' index modules load every kind (seconds).
import { ServiceMonitor } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { StatefulSet } from 'kubernetes-models/apps/v1/StatefulSet';
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1/NetworkPolicy';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { Namespace } from 'kubernetes-models/v1/Namespace';
import { Secret } from 'kubernetes-models/v1/Secret';
import { Service } from 'kubernetes-models/v1/Service';
import { ServiceAccount } from 'kubernetes-models/v1/ServiceAccount';
import { loadPipelineTexts } from '../src/config/index.js';
import { builtinRegistry } from '../src/registry/index.js';
import { hostAllowed, parseAllowedHosts } from '../src/runtime/http.js';

const ROOT = resolve(import.meta.dirname, '..');
const DEPLOY = join(ROOT, 'deploy');
const work = mkdtempSync(join(tmpdir(), 'passerelle-deploy-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

type K8sObject = {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  [key: string]: unknown;
};
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Any = any;

/** The schema-checked model for each kind the manifests may contain; any other kind is an error. */
const MODELS: Record<string, new (data: Any) => { validate(): void }> = {
  'v1/Namespace': Namespace,
  'v1/ServiceAccount': ServiceAccount,
  'v1/ConfigMap': ConfigMap,
  'v1/Secret': Secret,
  'v1/Service': Service,
  'apps/v1/StatefulSet': StatefulSet,
  'apps/v1/Deployment': Deployment,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget,
  'networking.k8s.io/v1/NetworkPolicy': NetworkPolicy,
  'monitoring.coreos.com/v1/ServiceMonitor': ServiceMonitor,
};

function parseObjects(text: string): K8sObject[] {
  return parseAllDocuments(text)
    .map((doc) => {
      if (doc.errors.length > 0) throw new Error(doc.errors.map((e) => e.message).join('\n'));
      return doc.toJS() as K8sObject | null;
    })
    .filter((o): o is K8sObject => o !== null);
}

function validateAll(objects: K8sObject[]): void {
  for (const object of objects) {
    const Model = MODELS[`${object.apiVersion}/${object.kind}`];
    if (!Model)
      throw new Error(`no schema for ${object.apiVersion} ${object.kind} (${object.metadata?.name})`);
    try {
      new Model(object).validate();
    } catch (error) {
      throw new Error(`${object.kind} ${object.metadata.name}: ${(error as Error).message}`);
    }
  }
}

function find(objects: K8sObject[], kind: string, name?: string): Any {
  const found = objects.filter((o) => o.kind === kind && (name === undefined || o.metadata.name === name));
  if (found.length !== 1) throw new Error(`expected one ${kind} ${name ?? ''}, found ${found.length}`);
  return found[0];
}

const matches = (selector: Record<string, string>, labels: Record<string, string>): boolean =>
  Object.keys(selector).length > 0 && Object.entries(selector).every(([k, v]) => labels[k] === v);

/** Writes placeholder files for the Secret keys the pipelines read, and points the references there. */
function validatePipelines(texts: { file: string; text: string }[], secretDir: string): void {
  const folder = join(work, `secrets-${createHash('sha1').update(secretDir).digest('hex').slice(0, 8)}`);
  mkdirSync(folder, { recursive: true });
  const rewritten = texts.map(({ file, text }) => {
    for (const m of text.matchAll(/\$\{file:([^}]+)\}/g)) {
      expect(m[1]!.startsWith(`${secretDir}/`), `${file}: ${m[1]} is outside ${secretDir}`).toBe(true);
      writeFileSync(join(folder, m[1]!.slice(secretDir.length + 1)), 'placeholder-secret');
    }
    return { file, text: text.split(`\${file:${secretDir}/`).join(`\${file:${folder}/`) };
  });
  const result = loadPipelineTexts(rewritten, builtinRegistry, {
    env: { POD_NAME: 'passerelle-0', HOSTNAME: 'h' },
  });
  expect(result.issues).toEqual([]);
  expect(result.pipelines.length).toBe(texts.length);
}

/** What every passerelle workload must have, whichever tool rendered it. */
/** `namespace`: where the objects land when they do not say (Helm's release namespace). */
/** MiB in a Kubernetes or compose memory quantity (512Mi, 1Gi, 512m, 1G). */
function mebibytes(quantity: string): number {
  const m = /^(\d+)(Mi|Gi|M|G|m|g)$/.exec(quantity);
  if (!m) throw new Error(`unexpected memory quantity ${quantity}`);
  const n = Number(m[1]);
  return { Mi: n, Gi: n * 1024, M: (n * 1e6) / 2 ** 20, G: (n * 1e9) / 2 ** 20, m: n, g: n * 1024 }[m[2]!]!;
}

/**
 * The V8 old-space limit (NODE_OPTIONS) is set and sized to the memory limit: between half and 5/8
 * of it, the rest being code, the young generation, buffers and native memory (docs/operations.md).
 */
function expectHeapSizedTo(nodeOptions: string | undefined, limit: string): number {
  const heap = Number(/--max-old-space-size=(\d+)/.exec(nodeOptions ?? '')?.[1]);
  expect(heap, `NODE_OPTIONS "${nodeOptions}" for a ${limit} limit`).toBeGreaterThanOrEqual(
    mebibytes(limit) / 2,
  );
  expect(heap).toBeLessThanOrEqual(Math.ceil((mebibytes(limit) * 5) / 8));
  return heap;
}

function checkWorkload(
  objects: K8sObject[],
  kind: 'StatefulSet' | 'Deployment',
  namespace = 'default',
): void {
  const workload = objects.find(
    (o) => o.kind === kind && (o as Any).spec.template.spec.containers[0].name === 'passerelle',
  ) as Any;
  expect(workload, `a ${kind} running passerelle`).toBeDefined();
  const pod = workload.spec.template;
  const podLabels: Record<string, string> = pod.metadata.labels;
  expect(matches(workload.spec.selector.matchLabels, podLabels)).toBe(true);
  const [container] = pod.spec.containers;
  expect(container.args).toEqual(['run', '--http', '0.0.0.0:8080', '/etc/passerelle/pipelines']);
  // The console's actions are closed on a network bind without a token: it comes from the Secret.
  expect(container.env.find((e: Any) => e.name === 'PASSERELLE_ADMIN_TOKEN')).toEqual({
    name: 'PASSERELLE_ADMIN_TOKEN',
    valueFrom: { secretKeyRef: { name: expect.any(String), key: 'admin-token', optional: true } },
  });
  expect(container.livenessProbe.httpGet.path).toBe('/healthz');
  expect(container.readinessProbe.httpGet.path).toBe('/readyz');
  expect(container.resources.requests.memory).toBeDefined();
  expect(container.resources.limits.memory).toBeDefined();
  expectHeapSizedTo(
    container.env.find((e: Any) => e.name === 'NODE_OPTIONS')?.value,
    container.resources.limits.memory,
  );
  expect(pod.spec.securityContext.runAsNonRoot).toBe(true);
  expect(pod.spec.securityContext.runAsUser).toBeGreaterThan(0);
  expect(container.securityContext).toMatchObject({
    allowPrivilegeEscalation: false,
    readOnlyRootFilesystem: true,
    capabilities: { drop: ['ALL'] },
  });
  expect(pod.spec.affinity.podAntiAffinity).toBeDefined();
  expect(pod.spec.terminationGracePeriodSeconds).toBeGreaterThan(10); // > the default shutdownTimeout
  expect(container.env.map((e: Any) => e.name)).toEqual(
    expect.arrayContaining(['POD_NAME', 'PASSERELLE_REDIS_URL', 'PASSERELLE_ALLOWED_HOSTS']),
  );
  // DNS-rebinding guard: probes (pod IP) and in-cluster clients (the Services' names) are answered.
  const allowed = parseAllowedHosts([
    container.env.find((e: Any) => e.name === 'PASSERELLE_ALLOWED_HOSTS').value as string,
  ]);
  for (const service of objects.filter((o) => o.kind === 'Service')) {
    const name = service.metadata.name;
    const ns = service.metadata.namespace ?? namespace;
    for (const host of [`${name}.${ns}.svc:8080`, `${name}.${ns}.svc.cluster.local:8080`])
      expect(hostAllowed(host, '0.0.0.0', allowed), host).toBe(true);
  }
  expect(hostAllowed('10.244.3.17:8080', '0.0.0.0', allowed)).toBe(true);
  expect(hostAllowed('attacker.example:8080', '0.0.0.0', allowed)).toBe(false);
  // Folders, never subPath (kubelet does not update subPath mounts: no reload).
  const mounts: Any[] = container.volumeMounts;
  expect(mounts.every((m) => m.subPath === undefined)).toBe(true);
  const byPath = Object.fromEntries(mounts.map((m) => [m.mountPath, m.name]));
  const volume = (name: string): Any => pod.spec.volumes.find((v: Any) => v.name === name);
  expect(volume(byPath['/etc/passerelle/pipelines']).configMap.name).toBe(
    find(objects, 'ConfigMap', volume(byPath['/etc/passerelle/pipelines']).configMap.name).metadata.name,
  );
  expect(volume(byPath['/etc/passerelle/secrets']).secret.secretName).toBeDefined();
  expect(volume(byPath['/tmp']).emptyDir).toBeDefined();
  // Everything that selects the pods does select them.
  const services = objects.filter(
    (o) => o.kind === 'Service' && o.metadata.name.startsWith(workload.metadata.name),
  ) as Any[];
  expect(services.length).toBeGreaterThan(0);
  for (const s of services)
    expect(matches(s.spec.selector, podLabels), `Service ${s.metadata.name}`).toBe(true);
  const pdb = find(objects, 'PodDisruptionBudget');
  expect(matches(pdb.spec.selector.matchLabels, podLabels)).toBe(true);
  const policy = objects.find(
    (o) => o.kind === 'NetworkPolicy' && matches((o as Any).spec.podSelector.matchLabels, podLabels),
  ) as Any;
  expect(policy?.spec.policyTypes).toEqual(['Ingress', 'Egress']);
  expect(policy.spec.egress.flatMap((e: Any) => e.ports.map((p: Any) => p.port))).toEqual(
    expect.arrayContaining([53, 6379, 1883, 8883]),
  );
  if (kind === 'StatefulSet')
    expect(find(objects, 'Service', workload.spec.serviceName).spec.clusterIP).toBe('None');
  const monitor = objects.find((o) => o.kind === 'ServiceMonitor') as Any;
  if (monitor) {
    const scraped = services.filter((s) =>
      matches(monitor.spec.selector.matchLabels, s.metadata.labels ?? {}),
    );
    expect(scraped.map((s) => s.metadata.name)).toHaveLength(1); // not the headless Service as well
    expect(scraped[0].spec.ports.map((p: Any) => p.name)).toContain(monitor.spec.endpoints[0].port);
  }
  const pipelinesMap = find(
    objects,
    'ConfigMap',
    byPath['/etc/passerelle/pipelines'] && volume(byPath['/etc/passerelle/pipelines']).configMap.name,
  );
  validatePipelines(
    Object.entries(pipelinesMap.data as Record<string, string>).map(([file, text]) => ({ file, text })),
    '/etc/passerelle/secrets',
  );
}

function kustomize(folder: string): string {
  try {
    return execFileSync('kubectl', ['kustomize', folder], { encoding: 'utf8', stdio: 'pipe' });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT')
      throw new Error('kubectl not found: the machine image provides it (kustomize v5 is built in)');
    throw error;
  }
}

describe('kustomize overlays (kubectl kustomize)', () => {
  const rendered: Record<string, K8sObject[]> = {};
  beforeAll(() => {
    const copy = join(work, 'kubernetes');
    cpSync(join(DEPLOY, 'kubernetes'), copy, { recursive: true });
    // The dev overlay's Secret is generated from files that are never committed.
    for (const key of ['redis-url', 'plant-mqtt-password', 'ingest-mqtt-password'])
      writeFileSync(join(copy, 'overlays/dev/secrets', key), 'placeholder');
    for (const overlay of ['dev', 'prod'])
      rendered[overlay] = parseObjects(kustomize(join(copy, 'overlays', overlay)));
  });

  it.each(['dev', 'prod'])(
    'renders %s into schema-valid objects with probes, limits and a locked-down pod',
    (overlay) => {
      const objects = rendered[overlay]!;
      validateAll(objects);
      checkWorkload(objects, 'StatefulSet', 'iot');
      const namespace = find(objects, 'Namespace').metadata.name;
      for (const o of objects.filter((x) => x.kind !== 'Namespace'))
        expect(o.metadata.namespace).toBe(namespace);
    },
  );

  it('prod has three replicas, the pinned image and the ServiceMonitor; dev two replicas and one Redis with AOF', () => {
    const prod = rendered.prod!;
    const bridge = find(prod, 'StatefulSet', 'passerelle');
    expect(bridge.spec.replicas).toBe(3);
    expect(bridge.spec.template.spec.containers[0].image).toBe('registry.example.com/passerelle:0.1.0');
    expect(find(prod, 'ServiceMonitor')).toBeDefined();
    expect(prod.some((o) => o.kind === 'Secret')).toBe(false); // created out of band, never committed

    const dev = rendered.dev!;
    expect(find(dev, 'StatefulSet', 'passerelle').spec.replicas).toBe(2);
    const redis = find(dev, 'StatefulSet', 'redis');
    expect(redis.spec.replicas).toBe(1);
    const args: string[] = redis.spec.template.spec.containers[0].args;
    expect(args.join(' ')).toContain('--appendonly yes');
    expect(args.join(' ')).toContain('--maxmemory-policy noeviction');
    expect(Object.keys(find(dev, 'Secret', 'passerelle-secrets').data).sort()).toEqual([
      'ingest-mqtt-password',
      'plant-mqtt-password',
      'redis-url',
    ]);
  });
});

describe('Helm chart (rendered with text/template + Sprig)', () => {
  const chart = join(DEPLOY, 'helm/passerelle');
  let renderer: string;
  const schema = JSON.parse(readFileSync(join(chart, 'values.schema.json'), 'utf8')) as object;
  const ajv = new Ajv({ allErrors: true, strict: false });
  const validateValues = ajv.compile(schema);

  beforeAll(() => {
    // Built once per source version, in the temp folder (Debian: golang-go, golang-github-masterminds-sprig-dev, golang-gopkg-yaml.v3-dev).
    const source = join(DEPLOY, 'helm/render/main.go');
    const hash = createHash('sha256').update(readFileSync(source)).digest('hex').slice(0, 12);
    renderer = join(tmpdir(), `passerelle-helm-render-${hash}`, 'render');
    if (!existsSync(renderer)) {
      mkdirSync(dirname(renderer), { recursive: true });
      execFileSync('go', ['build', '-o', renderer, '.'], {
        cwd: dirname(source),
        env: {
          ...process.env,
          GO111MODULE: 'off',
          GOPATH: '/usr/share/gocode',
          GOCACHE: join(dirname(renderer), 'cache'),
        },
        stdio: 'pipe',
      });
    }
  }, 180_000);

  const render = (values?: object): { status: number | null; stdout: string; stderr: string } => {
    const args = ['-name', 'plant', '-namespace', 'iot'];
    if (values) {
      const file = join(
        work,
        `values-${createHash('sha1').update(JSON.stringify(values)).digest('hex')}.yaml`,
      );
      writeFileSync(file, JSON.stringify(values));
      args.push('-f', file);
    }
    const run = spawnSync(renderer, [...args, chart], { encoding: 'utf8' });
    return { status: run.status, stdout: run.stdout, stderr: run.stderr };
  };
  const mergedValues = (override: object): object => ({
    ...(parse(readFileSync(join(chart, 'values.yaml'), 'utf8')) as object),
    ...override,
  });

  it('renders the default values into schema-valid objects', () => {
    expect(validateValues(mergedValues({})), ajv.errorsText(validateValues.errors)).toBe(true);
    const out = render();
    expect(out.stderr).toBe('');
    const objects = parseObjects(out.stdout);
    validateAll(objects);
    checkWorkload(objects, 'StatefulSet', 'iot');
    expect(objects.map((o) => o.kind).sort()).toEqual(
      [
        'ConfigMap',
        'NetworkPolicy',
        'PodDisruptionBudget',
        'Service',
        'Service',
        'ServiceAccount',
        'StatefulSet',
      ].sort(),
    );
    expect(find(objects, 'StatefulSet').spec.template.spec.containers[0].image).toBe('passerelle:0.1.0');
  });

  it('sizes the V8 heap to the memory limit, or as given, with extra Node.js flags', () => {
    const nodeOptions = (values: object): string => {
      expect(validateValues(mergedValues(values)), ajv.errorsText(validateValues.errors)).toBe(true);
      const out = render(values);
      expect(out.stderr).toBe('');
      const container = find(parseObjects(out.stdout), 'StatefulSet').spec.template.spec.containers[0];
      return container.env.find((e: Any) => e.name === 'NODE_OPTIONS')?.value;
    };
    expect(nodeOptions({})).toBe('--max-old-space-size=320');
    expect(nodeOptions({ resources: { limits: { memory: '1Gi' } } })).toBe('--max-old-space-size=640');
    expect(nodeOptions({ resources: { limits: { memory: '300M' } } })).toBe('--max-old-space-size=178');
    expect(nodeOptions({ heap: { maxOldSpaceSize: 200, nodeOptions: '--max-semi-space-size=2' } })).toBe(
      '--max-old-space-size=200 --max-semi-space-size=2',
    );
    expect(validateValues(mergedValues({ heap: { nodeOptions: '--require /tmp/x.js; rm' } }))).toBe(false);
  });

  it('renders a Deployment with a hard anti-affinity, a ServiceMonitor and an inline Redis URL', () => {
    const values = {
      workloadKind: 'Deployment',
      podAntiAffinity: 'hard',
      serviceMonitor: { enabled: true, interval: '15s', labels: { release: 'prometheus' } },
      redis: { url: 'redis://redis.iot:6379' },
      image: { repository: 'registry.example.com/passerelle', tag: '0.1.1' },
      podAnnotations: { 'example.com/team': 'ot' },
      allowedHosts: ['passerelle.example.com'],
    };
    expect(validateValues(mergedValues(values)), ajv.errorsText(validateValues.errors)).toBe(true);
    const objects = parseObjects(render(values).stdout);
    validateAll(objects);
    checkWorkload(objects, 'Deployment', 'iot');
    const deployment = find(objects, 'Deployment');
    expect(
      deployment.spec.template.spec.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution,
    ).toHaveLength(1);
    const env = deployment.spec.template.spec.containers[0].env;
    expect(env.find((e: Any) => e.name === 'PASSERELLE_REDIS_URL').value).toBe('redis://redis.iot:6379');
    expect(env.find((e: Any) => e.name === 'PASSERELLE_ALLOWED_HOSTS').value).toMatch(
      /,passerelle\.example\.com$/,
    );
    expect(find(objects, 'ServiceMonitor').metadata.labels.release).toBe('prometheus');
    expect(objects.filter((o) => o.kind === 'Service')).toHaveLength(1); // no headless Service
  });

  it('refuses bad values: unknown keys, wrong enums, credentials in the Redis URL, no Secret nor URL', () => {
    for (const bad of [
      { replicas: 3 }, // typo of replicaCount
      { workloadKind: 'DaemonSet' },
      { redis: { url: 'redis://:hunter2@redis:6379' } },
      { pipelines: { 'bad name.txt': 'x' } },
    ]) {
      expect(validateValues(mergedValues(bad)), JSON.stringify(bad)).toBe(false);
    }
    const out = render({ existingSecret: '', redis: { url: '' } });
    expect(out.status).not.toBe(0);
    expect(out.stderr).toMatch(/existingSecret is required/);
  });
});

describe('compose stack', () => {
  const dir = join(DEPLOY, 'compose');
  const compose = parse(readFileSync(join(dir, 'compose.yaml'), 'utf8'), { merge: true }) as Any;

  it('runs Redis with the append-only file and noeviction, Mosquitto as the docs recommend', () => {
    expect(compose.services.redis.command.join(' ')).toMatch(
      /--appendonly yes .*--maxmemory-policy noeviction/,
    );
    const conf = readFileSync(join(dir, 'mosquitto.conf'), 'utf8');
    for (const line of [
      'persistence true',
      'max_queued_messages 1000000',
      'max_queued_bytes 0',
      'max_inflight_messages 1000',
      'set_tcp_nodelay true',
    ])
      expect(conf.split('\n')).toContain(line);
    expect(compose.services.influxdb.image).toBe('influxdb:1.8');
    expect(compose.services['opcua-simulator'].command.slice(0, 2)).toEqual(['simulate', 'opcua']);
  });

  it('runs passerelle read-only, non-root image, HTTP on all interfaces, secrets as files, pipelines that validate', () => {
    const service = compose.services.passerelle;
    expect(service.build.dockerfile).toBe('deploy/docker/Dockerfile');
    expect(service.read_only).toBe(true);
    expect(service.tmpfs).toContain('/tmp');
    expect(service.command).toEqual(['run', '--http', '0.0.0.0:8080', '/etc/passerelle/pipelines']);
    expect(service.environment.PASSERELLE_REDIS_URL).toBe('redis://redis:6379');
    expect(service.environment.PASSERELLE_ADMIN_TOKEN).toBe('${PASSERELLE_ADMIN_TOKEN:-}');
    expectHeapSizedTo(service.environment.NODE_OPTIONS, service.mem_limit);
    expect(compose.secrets.influxdb_password.environment).toBe('INFLUXDB_PASSWORD');
    const folder = join(dir, 'pipelines');
    const files = ['opcua-to-mqtt.yaml', 'mqtt-to-influxdb.yaml'];
    validatePipelines(
      files.map((f) => ({ file: f, text: readFileSync(join(folder, f), 'utf8') })),
      '/run/secrets',
    );
  });
});

describe('Dockerfile (checked statically: no Docker engine here)', () => {
  const dockerfile = readFileSync(join(DEPLOY, 'docker/Dockerfile'), 'utf8');
  const instructions = dockerfile
    .replace(/\\\n/g, ' ')
    .split('\n')
    .filter((l) => l.trim() !== '' && !l.trim().startsWith('#'));

  it('builds in stages on Node 20, installs production dependencies only, runs as a numeric non-root user', () => {
    expect(instructions.filter((l) => l.startsWith('FROM')).length).toBeGreaterThanOrEqual(3);
    expect(dockerfile).toMatch(/ARG NODE_IMAGE=node:20[.\d]*-bookworm-slim/);
    expect(dockerfile).toMatch(/npm ci --omit=dev/);
    const users = instructions.filter((l) => l.startsWith('USER'));
    expect(users.at(-1)).toMatch(/^USER [1-9]\d*:[1-9]\d*$/);
    expect(instructions.find((l) => l.startsWith('HEALTHCHECK'))).toMatch(/\/healthz/);
    expect(instructions.find((l) => l.startsWith('CMD'))).toContain('0.0.0.0:8080');
    expect(dockerfile).toMatch(/VOLUME \["\/tmp"\]/);
    // Sized for the 512Mi limit of the manifests.
    expectHeapSizedTo(/NODE_OPTIONS=(\S+)/.exec(dockerfile)?.[1], '512Mi');
  });

  it('copies only paths that exist, and .dockerignore keeps node_modules, tests and secrets out', () => {
    for (const line of instructions.filter((l) => l.startsWith('COPY') && !l.includes('--from'))) {
      const parts = line.split(/\s+/).slice(1, -1);
      for (const path of parts) expect(existsSync(join(ROOT, path)), `${line}: ${path}`).toBe(true);
    }
    const ignore = readFileSync(join(ROOT, '.dockerignore'), 'utf8').split('\n');
    for (const entry of ['node_modules', '.git', 'test', '**/*.pem', '.env']) expect(ignore).toContain(entry);
  });
});
