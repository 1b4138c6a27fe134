/**
 * Deployment artefacts, checked without a container engine: the Kubernetes manifests in deploy/ and the Dockerfile
 * must agree with the server itself (probe paths that exist, the port it listens on, timings consistent with its
 * shutdown and health settings, as loadConfig reads them from the ConfigMap), and the image must run production
 * dependencies only as a non-root user with a working HEALTHCHECK.
 */
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { loadConfig, type Config } from '../src/config/index.js';
import { startServer, type TestServer } from './support/server.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const deployDir = join(root, 'deploy');
/** postgres.js `end({ timeout: 5 })`: the longest closing the database may take after the drain. */
const DATABASE_CLOSE_MS = 5_000;

type Manifest = { apiVersion: string; kind: string; metadata: { name: string; labels?: Record<string, string> }; [key: string]: any };

function loadManifests(): Manifest[] {
  return readdirSync(deployDir)
    .filter((file) => file.endsWith('.yaml') && file !== 'kustomization.yaml')
    .flatMap((file) =>
      parseAllDocuments(readFileSync(join(deployDir, file), 'utf8')).map((document) => {
        expect(document.errors, file).toEqual([]);
        return document.toJS() as Manifest;
      }),
    );
}

const manifests = loadManifests();
const byKind = (kind: string): Manifest[] => manifests.filter((manifest) => manifest.kind === kind);
const one = (kind: string): Manifest => {
  const found = byKind(kind);
  expect(found, kind).toHaveLength(1);
  return found[0]!;
};

const deployment = one('Deployment');
const configMap = one('ConfigMap');
const secret = one('Secret');
const podSpec = deployment.spec.template.spec;
const container = podSpec.containers[0];

/** The server's configuration as it would run in the pod: the ConfigMap plus the Secret's keys. */
const podConfig: Config = loadConfig({ ...configMap.data, ...secret.stringData });
/** The same without the ConfigMap: what the server does when a setting is absent. */
const defaults: Config = loadConfig({});

function containerPort(port: string | number): number {
  if (typeof port === 'number') return port;
  const named = container.ports.find((candidate: { name: string }) => candidate.name === port);
  expect(named, `container port named ${port}`).toBeDefined();
  return named.containerPort;
}

describe('Kubernetes manifests', () => {
  it('are all listed in the kustomization', () => {
    const kustomization = parseAllDocuments(readFileSync(join(deployDir, 'kustomization.yaml'), 'utf8'))[0]!.toJS();
    const files = readdirSync(deployDir).filter((file) => file.endsWith('.yaml') && file !== 'kustomization.yaml');
    expect([...kustomization.resources].sort()).toEqual(files.sort());
  });

  it('hold settings the server accepts, consistent with its defaults', () => {
    // loadConfig would throw on any invalid value; the pod runs in production against real Postgres and Redis.
    expect(podConfig.isProduction).toBe(true);
    expect(podConfig.database.url).toBeDefined();
    expect(podConfig.redisUrl).toBeDefined();
    expect(podConfig.http.host).toBe('0.0.0.0');
    for (const name of ['DATABASE_URL', 'REDIS_URL']) {
      expect(configMap.data[name], `${name} belongs in the Secret`).toBeUndefined();
      expect(secret.stringData[name]).toBeDefined();
    }
    // Where the ConfigMap states a timing, it matches the server's default, so docs and manifests tell one story.
    expect(podConfig.operations).toEqual(defaults.operations);
    expect(podConfig.http.shutdownTimeoutMs).toBe(defaults.http.shutdownTimeoutMs);
  });

  it('runs the server on the port the ConfigMap gives it, with probes on the real paths', () => {
    expect(containerPort('http')).toBe(podConfig.http.port);
    expect(podConfig.http.port).toBe(defaults.http.port);
    const probes = { startupProbe: '/healthz', livenessProbe: '/healthz', readinessProbe: '/readyz' };
    for (const [probe, path] of Object.entries(probes)) {
      const spec = container[probe];
      expect(spec, probe).toBeDefined();
      expect(spec.httpGet.path, probe).toBe(path);
      expect(containerPort(spec.httpGet.port), probe).toBe(podConfig.http.port);
    }
    const annotations = deployment.spec.template.metadata.annotations;
    expect(Number(annotations['prometheus.io/port'])).toBe(podConfig.http.port);
    expect(annotations['prometheus.io/path']).toBe('/metrics');
    expect(podConfig.operations.metricsEnabled).toBe(true);
  });

  it('gives probes time to answer and shutdown time to finish', () => {
    const { shutdownDelayMs, healthCheckTimeoutMs, healthCacheMs } = podConfig.operations;
    const { readinessProbe, livenessProbe, startupProbe } = container;
    // A readiness answer may wait for one health check to time out: the probe must wait longer than that.
    expect(readinessProbe.timeoutSeconds * 1000).toBeGreaterThan(healthCheckTimeoutMs);
    expect(livenessProbe.timeoutSeconds * 1000).toBeGreaterThan(healthCheckTimeoutMs);
    // Probes come less often than the report is cached, so each one sees fresh results.
    expect(readinessProbe.periodSeconds * 1000).toBeGreaterThanOrEqual(healthCacheMs);
    // Readiness has failed (and anything that follows probes has noticed) before the server stops accepting.
    expect(readinessProbe.periodSeconds * readinessProbe.failureThreshold * 1000).toBeLessThanOrEqual(shutdownDelayMs);
    // Liveness never kills a pod that is only slow to start (migrations run before the server listens).
    expect(startupProbe.periodSeconds * startupProbe.failureThreshold).toBeGreaterThanOrEqual(60);
    // Kubernetes waits for the whole shutdown sequence before SIGKILL.
    expect(podSpec.terminationGracePeriodSeconds * 1000).toBeGreaterThan(
      shutdownDelayMs + podConfig.http.shutdownTimeoutMs + DATABASE_CLOSE_MS,
    );
  });

  it('runs several non-root replicas with resources, a Service, an autoscaler and a disruption budget', () => {
    expect(deployment.spec.replicas).toBeGreaterThanOrEqual(2);
    expect(deployment.spec.strategy.rollingUpdate.maxUnavailable).toBe(0);
    expect(podSpec.securityContext.runAsNonRoot).toBe(true);
    expect(podSpec.securityContext.runAsUser).toBeGreaterThan(0);
    expect(container.securityContext.allowPrivilegeEscalation).toBe(false);
    expect(container.resources.requests.cpu).toBeDefined();
    expect(container.resources.requests.memory).toBeDefined();
    expect(container.resources.limits.memory).toBeDefined();
    expect(container.envFrom).toEqual([
      { configMapRef: { name: configMap.metadata.name } },
      { secretRef: { name: secret.metadata.name } },
    ]);

    const podLabels = deployment.spec.template.metadata.labels;
    const selects = (selector: Record<string, string>) =>
      Object.entries(selector).every(([key, value]) => podLabels[key] === value);
    expect(selects(deployment.spec.selector.matchLabels)).toBe(true);

    const service = one('Service');
    expect(selects(service.spec.selector)).toBe(true);
    for (const port of service.spec.ports) expect(containerPort(port.targetPort)).toBe(podConfig.http.port);

    const hpa = one('HorizontalPodAutoscaler');
    expect(hpa.spec.scaleTargetRef).toMatchObject({ kind: 'Deployment', name: deployment.metadata.name });
    expect(hpa.spec.minReplicas).toBeGreaterThanOrEqual(2);
    expect(hpa.spec.maxReplicas).toBeGreaterThan(hpa.spec.minReplicas);
    // Utilization targets are relative to the CPU request.
    expect(hpa.spec.metrics[0].resource.name).toBe('cpu');

    const pdb = one('PodDisruptionBudget');
    expect(selects(pdb.spec.selector.matchLabels)).toBe(true);
    expect(pdb.spec.minAvailable).toBeLessThan(hpa.spec.minReplicas);
  });
});

describe('Dockerfile', () => {
  const dockerfile = readFileSync(join(root, 'Dockerfile'), 'utf8').replace(/\\\n\s*/g, ' ');
  const lines = dockerfile.split('\n').filter((line) => line.trim() !== '' && !line.trim().startsWith('#'));
  const stages = lines.filter((line) => /^FROM\s/i.test(line));
  const finalStage = lines.slice(lines.lastIndexOf(stages.at(-1)!));
  const instruction = (name: string) => finalStage.filter((line) => line.startsWith(`${name} `));

  it('is multi-stage, runs production dependencies only as a non-root user', () => {
    expect(stages.length).toBeGreaterThanOrEqual(2);
    expect(dockerfile).toMatch(/npm ci --omit=dev/);
    const user = instruction('USER').at(-1);
    expect(user).toBeDefined();
    expect(user).not.toMatch(/^USER\s+(root|0)(\s|:|$)/);
    expect(instruction('CMD').at(-1)).toBe('CMD ["node", "dist/main.js"]');
    expect(instruction('EXPOSE').at(-1)).toBe(`EXPOSE ${defaults.http.port}`);
    // The Node major version satisfies package.json's engines.
    const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
    const nodeVersion = Number(/ARG NODE_VERSION=(\d+)/.exec(dockerfile)?.[1]);
    expect(nodeVersion).toBeGreaterThanOrEqual(Number(/>=\s*(\d+)/.exec(pkg.engines.node)?.[1]));
  });

  it('keeps the build context small and free of local state', () => {
    const ignored = readFileSync(join(root, '.dockerignore'), 'utf8').split('\n').map((line) => line.trim());
    for (const entry of ['node_modules', '.git', '.data', 'dist', '.env']) expect(ignored).toContain(entry);
    // What the image copies is not ignored.
    for (const folder of ['src', 'schema', 'drizzle']) {
      expect(dockerfile).toContain(`COPY ${folder} ./${folder}`);
      expect(ignored).not.toContain(folder);
    }
  });

  it('needs nothing from devDependencies at run time', () => {
    const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
    const runtime = new Set(Object.keys(pkg.dependencies));
    const builtins = new Set(builtinModules);
    const sources = (dir: string): string[] =>
      readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
        entry.isDirectory() ? sources(join(dir, entry.name)) : entry.name.endsWith('.ts') ? [join(dir, entry.name)] : [],
      );
    const missing = new Set<string>();
    for (const file of sources(join(root, 'src'))) {
      const text = readFileSync(file, 'utf8');
      // Value imports only: `import type` disappears at compile time.
      for (const match of text.matchAll(/^import\s+(?!type\s)[^;]*?from\s+'([^'.][^']*)'/gm)) {
        const specifier = match[1]!.replace(/^node:/, '');
        const name = specifier.startsWith('@') ? specifier.split('/').slice(0, 2).join('/') : specifier.split('/')[0]!;
        if (!builtins.has(name) && !runtime.has(name)) missing.add(`${name} (${file.slice(root.length)})`);
      }
    }
    expect([...missing]).toEqual([]);
  });

  describe('HEALTHCHECK', () => {
    let server: TestServer;
    beforeAll(async () => {
      server = await startServer();
    });
    afterAll(() => server?.close());

    const healthcheck = instruction('HEALTHCHECK').at(-1) ?? '';
    const command = JSON.parse(/CMD\s+(\[.*\])\s*$/.exec(healthcheck)?.[1] ?? 'null') as string[] | null;

    it('asks /healthz with node (no curl in slim images)', () => {
      expect(command?.[0]).toBe('node');
      expect(command?.join(' ')).toContain('/healthz');
    });

    it('succeeds against a live server and fails when nothing answers', async () => {
      const run = (port: string) =>
        promisify(execFile)(process.execPath, command!.slice(1), { env: { PORT: port }, timeout: 10_000 }).then(
          () => 0,
          (error: { code?: number }) => error.code ?? -1,
        );
      expect(await run(new URL(server.url).port)).toBe(0);
      expect(await run('1')).not.toBe(0);
    });
  });
});
