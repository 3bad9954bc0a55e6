/**
 * The settings of direct origin fetches, read from the same environment variables as the notary
 * (DESIGN "Configuration"), so a keyring fetching from origins is held to the notary's address
 * policy, CAs, resolvers and limits. Fails fast with the variable's name on a bad value.
 */
import { readFileSync } from 'node:fs';

export interface OriginFetchSettings {
  allowPrivateAddresses: boolean;
  /** CIDRs allowed even when non-public. */
  allowedAddresses: string[];
  connectTimeoutMs: number;
  totalTimeoutMs: number;
  maxResponseBytes: number;
  /** PEM text of NOTARY_FEDERATION_CA_FILE, read once here. */
  extraCaPem?: string;
  /** NOTARY_DNS_SERVERS as written (the federation client parses and checks it). */
  dnsServers?: string;
}

export const ORIGIN_CONNECT_TIMEOUT_MS_DEFAULT = 3000;
export const ORIGIN_TIMEOUT_MS_DEFAULT = 10_000;
export const MAX_ORIGIN_RESPONSE_BYTES_DEFAULT = 1_048_576;

export class OriginSettingsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'OriginSettingsError';
  }
}

function readBoolean(env: NodeJS.ProcessEnv, name: string, fallback: boolean): boolean {
  const raw = env[name]?.trim().toLowerCase();
  if (raw === undefined || raw === '') return fallback;
  if (raw === 'true' || raw === '1') return true;
  if (raw === 'false' || raw === '0') return false;
  throw new OriginSettingsError(`${name} must be true or false, not ${JSON.stringify(env[name])}`);
}

function readPositiveInt(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const raw = env[name]?.trim();
  if (raw === undefined || raw === '') return fallback;
  if (!/^[0-9]+$/.test(raw) || !Number.isSafeInteger(Number(raw)) || Number(raw) <= 0) {
    throw new OriginSettingsError(`${name} must be a positive integer, not ${JSON.stringify(env[name])}`);
  }
  return Number(raw);
}

export function originFetchSettingsFromEnv(
  env: NodeJS.ProcessEnv,
  readFile: (path: string) => string = (p) => readFileSync(p, 'utf8'),
): OriginFetchSettings {
  const allowed = (env.NOTARY_ALLOWED_ADDRESSES ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  const settings: OriginFetchSettings = {
    allowPrivateAddresses: readBoolean(env, 'NOTARY_ALLOW_PRIVATE_ADDRESSES', false),
    allowedAddresses: allowed,
    connectTimeoutMs: readPositiveInt(env, 'NOTARY_ORIGIN_CONNECT_TIMEOUT_MS', ORIGIN_CONNECT_TIMEOUT_MS_DEFAULT),
    totalTimeoutMs: readPositiveInt(env, 'NOTARY_ORIGIN_TIMEOUT_MS', ORIGIN_TIMEOUT_MS_DEFAULT),
    maxResponseBytes: readPositiveInt(env, 'NOTARY_MAX_ORIGIN_RESPONSE_BYTES', MAX_ORIGIN_RESPONSE_BYTES_DEFAULT),
  };
  const caFile = env.NOTARY_FEDERATION_CA_FILE?.trim();
  if (caFile) {
    try {
      settings.extraCaPem = readFile(caFile);
    } catch (err) {
      throw new OriginSettingsError(`NOTARY_FEDERATION_CA_FILE ${caFile} cannot be read: ${(err as Error).message}`);
    }
  }
  const dns = env.NOTARY_DNS_SERVERS?.trim();
  if (dns) settings.dnsServers = dns;
  return settings;
}
