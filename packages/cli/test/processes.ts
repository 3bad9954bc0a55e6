/** Running the built CLI as real child processes, for tests of the roles as operators run them. */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { keyPairFromSeed } from '@matrix-notary/protocol';
import { readSigningKeyFile, signingKeyId } from '@matrix-notary/signer';

export const CLI = path.resolve(__dirname, '..', 'bin', 'matrix-notary.js');

export function assertBuilt(): void {
  if (!fs.existsSync(path.resolve(__dirname, '..', 'dist', 'main.js'))) {
    throw new Error('packages/cli/dist is missing: run `npm run build` (npm test does) before these tests');
  }
}

export interface RunningProcess {
  child: ChildProcess;
  /** stdout and stderr as they came, interleaved. */
  output(): string;
  stdout(): string;
  stderr(): string;
  exited: Promise<number | null>;
  stop(): Promise<number | null>;
}

export function startCli(args: string[], env: Record<string, string>, cwd?: string): RunningProcess {
  const child = spawn(process.execPath, [CLI, ...args], {
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    cwd,
  });
  let out = '';
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d) => {
    out += d;
    stdout += d;
  });
  child.stderr!.on('data', (d) => {
    out += d;
    stderr += d;
  });
  // 'close' comes after the exit and after stdout and stderr are read to their end.
  const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
  return {
    child,
    output: () => out,
    stdout: () => stdout,
    stderr: () => stderr,
    exited,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 8000);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
}

/**
 * Sends SIGTERM and waits for the exit. A role that has not exited after `boundMs` (a hang, not
 * a slow stop: a clean stop takes tens of milliseconds) is killed and reported as code null.
 */
export async function stopWithin(p: RunningProcess, boundMs = 3000): Promise<{ code: number | null; signal: NodeJS.Signals | null; ms: number }> {
  const started = Date.now();
  p.child.kill('SIGTERM');
  const timer = setTimeout(() => p.child.kill('SIGKILL'), boundMs);
  const code = await p.exited;
  clearTimeout(timer);
  return { code, signal: p.child.signalCode, ms: Date.now() - started };
}

/** The process's JSON log lines (stdout), parsed; other lines are skipped. */
export function logLines(p: RunningProcess): Array<Record<string, unknown>> {
  return p
    .stdout()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

export async function runCli(
  args: string[],
  env: Record<string, string>,
  timeoutMs = 20_000,
  cwd?: string,
): Promise<{ code: number | null; output: string; stdout: string; stderr: string }> {
  const p = startCli(args, env, cwd);
  const timer = setTimeout(() => p.child.kill('SIGKILL'), timeoutMs);
  const code = await p.exited;
  clearTimeout(timer);
  return { code, output: p.output(), stdout: p.stdout(), stderr: p.stderr() };
}

/** Polls a URL until it answers 200, or fails with the process output to say why. */
export async function waitForUrl(url: string, proc: RunningProcess, timeoutMs = 20_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if (proc.child.exitCode !== null) throw new Error(`process exited (${proc.child.exitCode}) before ${url} answered:\n${proc.output()}`);
    try {
      const res = await fetch(url);
      if (res.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${url} did not answer within ${timeoutMs} ms:\n${proc.output()}`);
}

/** Runs `generate-key --out FILE` and reads the key back: its file, key ID and public key. */
export async function generateKeyFile(file: string): Promise<{ file: string; keyId: string; publicKey: Uint8Array }> {
  const gen = await runCli(['generate-key', '--out', file], {});
  if (gen.code !== 0) throw new Error(`generate-key failed (${gen.code}): ${gen.output}`);
  const { key } = await readSigningKeyFile(file);
  return { file, keyId: signingKeyId(key), publicKey: keyPairFromSeed(key.seed).publicKey };
}

/** Polls the process's log until a line with this message appears, and returns it; bounded like waitForUrl. */
export async function waitForLogLine(proc: RunningProcess, msg: string, timeoutMs = 20_000): Promise<Record<string, unknown>> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    const line = logLines(proc).find((l) => l.msg === msg);
    if (line !== undefined) return line;
    if (proc.child.exitCode !== null) throw new Error(`process exited (${proc.child.exitCode}) before logging "${msg}":\n${proc.output()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`no "${msg}" in the log within ${timeoutMs} ms:\n${proc.output()}`);
}
