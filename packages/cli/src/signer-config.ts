/** The signer role's configuration, read from the environment and validated at start. */
import { readMetricsListener, readSignerToken, SPLIT_ROLE_HINT, type VariableReader } from '@matrix-notary/common';

export interface SignerConfig {
  serverName: string;
  signingKeyFile: string;
  /** NOTARY_EXTRA_SIGNING_KEY_FILES: read by the signer only (in `all`, the in-process signer). */
  extraSigningKeyFiles: string[];
  oldSigningKeysFile?: string;
  ownKeyValidityMs: number;
  port: number;
  bind: string;
  token: string;
  metricsPort: number;
  metricsBind: string;
  maxBodyBytes: number;
  logLevel: string;
}

export function readSignerConfig(reader: VariableReader): SignerConfig {
  return {
    serverName: reader.required('NOTARY_SERVER_NAME', SPLIT_ROLE_HINT),
    signingKeyFile: reader.optional('NOTARY_SIGNING_KEY_FILE') as string,
    extraSigningKeyFiles: reader.optional('NOTARY_EXTRA_SIGNING_KEY_FILES') ?? [],
    oldSigningKeysFile: reader.optional('NOTARY_OLD_SIGNING_KEYS_FILE'),
    ownKeyValidityMs: reader.optional('NOTARY_OWN_KEY_VALIDITY_S') as number,
    port: reader.optional('NOTARY_SIGNER_PORT') as number,
    bind: reader.optional('NOTARY_SIGNER_BIND') as string,
    token: readSignerToken(reader),
    ...readMetricsListener(reader, 'NOTARY_SIGNER_BIND'),
    // Origin responses are what the signer receives; they are capped at the same size.
    maxBodyBytes: reader.optional('NOTARY_MAX_ORIGIN_RESPONSE_BYTES') as number,
    logLevel: reader.optional('NOTARY_LOG_LEVEL') as string,
  };
}
