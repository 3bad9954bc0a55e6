/**
 * The notary as the bench deploys it: `matrix-notary all` (one process, in-process signer), or
 * split roles (signer, worker, one or more api pods, the signer reached over HTTP), each a child
 * process with its own metrics port, all on one Redis prefix.
 */
import path from 'node:path';
import { freeLoopbackPort } from '@matrix-notary/common';
import type { Cleanup } from './cleanup';
import { roleEnv, type ClusterSettings } from './notary-env';
import { startRole, type NotaryRole, type RoleChild } from './processes';

export interface DeploymentOptions {
  repoRoot: string;
  workDir: string;
  cluster: Omit<ClusterSettings, 'prefix' | 'signerUrl'>;
  cleanup: Cleanup;
  /** Node options per role label (e.g. --cpu-prof with a directory of its own). */
  nodeArgs: (label: string) => string[];
  onLine?: (label: string, line: string) => void;
  /** Extra variables for every role. */
  extraEnv?: Record<string, string>;
}

export interface Deployment {
  prefix: string;
  /** The processes answering the public api (the `all` process, or each api pod). */
  apis: RoleChild[];
  /** The process running the refresh worker (the `all` process, or the worker pod). */
  worker: RoleChild;
  signer?: RoleChild;
  /** Every process, by label, for CPU accounting. */
  processes: Record<string, number>;
  stop(): Promise<void>;
}

async function start(role: NotaryRole, label: string, cluster: ClusterSettings, opts: DeploymentOptions, signerPort?: number): Promise<RoleChild> {
  const ports = {
    port: role === 'all' || role === 'api' ? await freeLoopbackPort() : undefined,
    metricsPort: await freeLoopbackPort(),
    signerPort,
  };
  return startRole(
    role,
    label,
    {
      repoRoot: opts.repoRoot,
      cwd: opts.workDir,
      env: roleEnv(process.env, cluster, ports, opts.extraEnv),
      port: ports.port,
      metricsPort: ports.metricsPort,
      nodeArgs: opts.nodeArgs(label),
      onLine: opts.onLine && ((line) => opts.onLine!(label, line)),
    },
    opts.cleanup,
  );
}

export async function startAllInOne(prefix: string, opts: DeploymentOptions): Promise<Deployment> {
  const all = await start('all', 'all', { ...opts.cluster, prefix }, opts);
  return { prefix, apis: [all], worker: all, processes: { all: all.pid }, stop: () => all.stop() };
}

export async function startSplit(prefix: string, apiCount: number, opts: DeploymentOptions): Promise<Deployment> {
  const signerPort = await freeLoopbackPort();
  const cluster: ClusterSettings = { ...opts.cluster, prefix, signerUrl: `http://127.0.0.1:${signerPort}` };
  const signer = await start('signer', 'signer', cluster, opts, signerPort);
  const worker = await start('worker', 'worker', cluster, opts);
  const apis: RoleChild[] = [];
  for (let i = 1; i <= apiCount; i++) apis.push(await start('api', `api${i}`, cluster, opts));
  const processes: Record<string, number> = { signer: signer.pid, worker: worker.pid };
  for (const a of apis) processes[a.label] = a.pid;
  return {
    prefix,
    apis,
    worker,
    signer,
    processes,
    async stop() {
      for (const a of apis) await a.stop();
      await worker.stop();
      await signer.stop();
    },
  };
}

/** Where a role's CPU profile goes. */
export function profileDir(root: string, label: string): string {
  return path.join(root, label);
}
