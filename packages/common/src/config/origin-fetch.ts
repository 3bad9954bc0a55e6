/**
 * The settings of fetches from origin servers, shared by the worker and the keyring library so
 * both are held to the same address policy, CAs, resolvers and limits.
 */
import fs from 'node:fs';
import type { VariableReader } from './read';

export interface OriginFetchSettings {
  allowPrivateAddresses: boolean;
  /** CIDRs allowed even when non-public. */
  allowedAddresses: string[];
  connectTimeoutMs: number;
  totalTimeoutMs: number;
  maxResponseBytes: number;
  /** Contents of NOTARY_FEDERATION_CA_FILE, read at start. */
  extraCaPem?: string;
  /** NOTARY_DNS_SERVERS entries; empty means the system's resolver. */
  dnsServers: string[];
}

export function readOriginFetchSettings(
  reader: VariableReader,
  readFile: (path: string) => string = (p) => fs.readFileSync(p, 'utf8'),
): OriginFetchSettings {
  const settings: OriginFetchSettings = {
    allowPrivateAddresses: reader.optional('NOTARY_ALLOW_PRIVATE_ADDRESSES') as boolean,
    allowedAddresses: reader.optional('NOTARY_ALLOWED_ADDRESSES') as string[],
    connectTimeoutMs: reader.optional('NOTARY_ORIGIN_CONNECT_TIMEOUT_MS') as number,
    totalTimeoutMs: reader.optional('NOTARY_ORIGIN_TIMEOUT_MS') as number,
    maxResponseBytes: reader.optional('NOTARY_MAX_ORIGIN_RESPONSE_BYTES') as number,
    dnsServers: reader.optional('NOTARY_DNS_SERVERS') ?? [],
  };
  const caFile = reader.optional('NOTARY_FEDERATION_CA_FILE');
  if (caFile !== undefined) {
    try {
      settings.extraCaPem = readFile(caFile);
      if (!settings.extraCaPem.includes('-----BEGIN CERTIFICATE-----')) {
        reader.problem(`NOTARY_FEDERATION_CA_FILE ${caFile} holds no PEM certificate`);
      }
    } catch (err) {
      reader.problem(`NOTARY_FEDERATION_CA_FILE ${caFile} cannot be read: ${(err as Error).message}`);
    }
  }
  return settings;
}
