/**
 * The Docker image, built for real from the repository's Dockerfile with the classic builder (so
 * no BuildKit-only syntax can slip in) and run as users run it: `docker run --network host IMAGE
 * all` must serve a self-signed /_matrix/key/v2/server, as a non-root user, with a read-only root
 * filesystem and only the declared volume writable.
 *
 * Needs a Docker daemon (started here when none answers: dockerd with the vfs storage driver, no
 * iptables, no bridge; containers use host networking only) and node:20-bookworm-slim, which is
 * made locally by make-base-image.sh when no registry can give it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { decodeBase64, verifyJsonSignature } from '@matrix-notary/protocol';
import { freeLoopbackPort } from '../../packages/common/src/loopback-probes';
import { REPO, run, runOk } from './support';

jest.setTimeout(20 * 60_000);

const IMAGE = 'matrix-notary:test-image';
const BUILD_TIMEOUT_MS = 15 * 60_000;

let dockerd: ChildProcess | undefined;
let redis: ChildProcess | undefined;
let dir: string;
const containers: string[] = [];

function dockerAnswers(): boolean {
  return run('docker', ['info', '--format', '{{.ServerVersion}}'], { timeout: 10_000 }).code === 0;
}

async function waitFor(what: string, check: () => boolean | Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`timed out waiting for ${what}`);
}

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'notary-image-'));
  if (!dockerAnswers()) {
    dockerd = spawn('dockerd', ['--storage-driver=vfs', '--iptables=false', '--bridge=none', `--data-root=${process.env.DOCKER_DATA_ROOT ?? '/var/lib/docker'}`], {
      stdio: ['ignore', fs.openSync(path.join(dir, 'dockerd.log'), 'w'), fs.openSync(path.join(dir, 'dockerd.log'), 'a')],
    });
    await waitFor('dockerd to answer', dockerAnswers, 60_000);
  }
  runOk('bash', [path.join(REPO, 'deploy', 'test', 'make-base-image.sh')], { timeout: 10 * 60_000, stdio: 'inherit' });
  runOk('docker', ['build', '--network', 'host', '-t', IMAGE, REPO], {
    timeout: BUILD_TIMEOUT_MS,
    env: { ...process.env, DOCKER_BUILDKIT: '0' },
  });
});

afterAll(async () => {
  for (const id of containers) run('docker', ['rm', '-f', '-v', id]);
  redis?.kill('SIGTERM');
  if (dockerd) {
    dockerd.kill('SIGTERM');
    await new Promise((r) => dockerd!.once('exit', r));
  }
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

test('the Dockerfile uses no BuildKit-only syntax', () => {
  const dockerfile = fs.readFileSync(path.join(REPO, 'Dockerfile'), 'utf8');
  expect(dockerfile).not.toMatch(/^\s*#\s*syntax=/m);
  expect(dockerfile).not.toMatch(/RUN\s+--(mount|network|security)/);
  expect(dockerfile).not.toMatch(/COPY\s+--(link|parents|exclude)/);
  expect(dockerfile).not.toMatch(/<<\s*['"]?[A-Z]+/); // heredocs
  expect(dockerfile).toMatch(/^FROM node:20-bookworm-slim AS build$/m);
});

test('the image runs as a numeric non-root user, declares its volume, and takes the role as its argument', () => {
  const config = JSON.parse(runOk('docker', ['image', 'inspect', IMAGE, '--format', '{{json .Config}}']).stdout) as {
    User: string;
    Volumes: Record<string, unknown>;
    Entrypoint: string[];
    Cmd: string[];
  };
  expect(config.User).toBe('10001:10001');
  expect(Object.keys(config.Volumes)).toEqual(['/var/lib/matrix-notary']);
  expect(config.Entrypoint).toEqual(['node', '/app/packages/cli/bin/matrix-notary.js']);
  const help = runOk('docker', ['run', '--rm', '--network', 'host', IMAGE]);
  expect(help.stdout).toContain('usage: matrix-notary <command>');
});

test('generate-key prints a key in Synapse format', () => {
  const res = runOk('docker', ['run', '--rm', '--network', 'host', '--read-only', IMAGE, 'generate-key']);
  expect(res.stdout).toMatch(/^ed25519 a_[A-Za-z0-9_]+ [A-Za-z0-9+/]{43}\n$/);
});

test('no dev dependencies, test helpers or TypeScript sources ship', () => {
  const res = runOk('docker', ['run', '--rm', '--network', 'host', '--entrypoint', 'sh', IMAGE, '-c', 'ls /app/node_modules /app/node_modules/.bin 2>/dev/null; ls -d /app/packages/*/src /app/packages/testing 2>/dev/null; true']);
  for (const dev of ['typescript', 'jest', 'ts-jest', 'autocannon', 'kubernetes-models']) expect(res.stdout.split('\n')).not.toContain(dev);
  expect(res.stdout).not.toContain('/src');
  expect(res.stdout).not.toContain('/app/packages/testing');
});

test('`docker run --network host --read-only IMAGE all` serves a self-signed /_matrix/key/v2/server as a non-root user', async () => {
  const [redisPort, apiPort, metricsPort] = await Promise.all([freeLoopbackPort(), freeLoopbackPort(), freeLoopbackPort()]);
  redis = spawn('redis-server', ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--maxmemory-policy', 'noeviction', '--dir', dir], { stdio: 'ignore' });
  const started = Date.now();
  const id = runOk('docker', [
    'run', '-d', '--network', 'host', '--read-only',
    '-e', `REDIS_URL=redis://127.0.0.1:${redisPort}`,
    '-e', `NOTARY_PORT=${apiPort}`,
    '-e', `NOTARY_METRICS_PORT=${metricsPort}`,
    '-e', 'NOTARY_BIND=127.0.0.1',
    '-e', 'NOTARY_SERVER_NAME=notary.image.test',
    IMAGE, 'all',
  ]).stdout.trim();
  containers.push(id);
  let body: { server_name: string; verify_keys: Record<string, { key: string }>; signatures: Record<string, Record<string, string>> } | undefined;
  await waitFor(
    'the notary in the container to answer',
    async () => {
      const state = runOk('docker', ['inspect', id, '--format', '{{.State.Running}}']).stdout.trim();
      if (state !== 'true') throw new Error(`the container stopped:\n${run('docker', ['logs', id]).stderr}`);
      try {
        const res = await fetch(`http://127.0.0.1:${apiPort}/_matrix/key/v2/server`);
        if (res.status !== 200) return false;
        body = (await res.json()) as typeof body;
        return true;
      } catch {
        return false;
      }
    },
    60_000,
  );
  process.stdout.write(`image: the notary answered ${Date.now() - started} ms after docker run\n`);
  expect(body!.server_name).toBe('notary.image.test');
  const [keyId] = Object.keys(body!.verify_keys);
  expect(verifyJsonSignature(body!, 'notary.image.test', keyId, decodeBase64(body!.verify_keys[keyId].key))).toBe(true);

  // The process is not root, and the only place it wrote is the declared volume.
  expect(runOk('docker', ['exec', id, 'node', '-e', 'process.stdout.write(`${process.getuid()}:${process.getgid()}`)']).stdout).toBe('10001:10001');
  const written = runOk('docker', ['diff', id]).stdout.trim();
  expect(written).toBe('');
  expect(runOk('docker', ['exec', id, 'ls', '/var/lib/matrix-notary/data']).stdout.trim()).toBe('signing.key');
  const metrics = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
  expect(metrics).toContain('matrix_notary_http_requests_total{route="server",method="GET",status="200"');
});
