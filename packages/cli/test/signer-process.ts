/** A real signer process (`matrix-notary signer`) for tests of the api and worker roles. */
import fs from 'node:fs';
import path from 'node:path';
import { freeLoopbackPort } from '@matrix-notary/common';
import { runCli, startCli, waitForUrl, type RunningProcess } from './processes';

export interface SignerProcess {
  process: RunningProcess;
  url: string;
  keyFile: string;
  /** The variables api and worker need to reach it. */
  env: Record<string, string>;
}

/** Generates a key in `dir` and starts a signer on a free loopback port with that token. */
export async function startSignerProcess(dir: string, serverName: string, token: string): Promise<SignerProcess> {
  const keyFile = path.join(dir, 'signing.key');
  if (!fs.existsSync(keyFile)) {
    const gen = await runCli(['generate-key', '--out', keyFile], {});
    if (gen.code !== 0) throw new Error(`generate-key failed: ${gen.output}`);
  }
  const port = await freeLoopbackPort();
  const proc = startCli(['signer'], {
    NOTARY_SERVER_NAME: serverName,
    NOTARY_SIGNER_TOKEN: token,
    NOTARY_SIGNING_KEY_FILE: keyFile,
    NOTARY_SIGNER_PORT: String(port),
    NOTARY_METRICS_PORT: String(await freeLoopbackPort()),
    NOTARY_METRICS_BIND: '127.0.0.1',
    NOTARY_LOG_LEVEL: 'warn',
  });
  await waitForUrl(`http://127.0.0.1:${port}/healthz`, proc);
  const url = `http://127.0.0.1:${port}`;
  return { process: proc, url, keyFile, env: { NOTARY_SERVER_NAME: serverName, NOTARY_SIGNER_URL: url } };
}
