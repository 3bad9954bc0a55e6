/**
 * The settings of direct origin fetches, read from the same environment variables (and with the
 * same checks) as the notary's worker, so a keyring fetching from origins is held to the notary's
 * address policy, CAs, resolvers and limits. Fails fast with the variable's name on a bad value.
 */
import { ConfigError, readOriginFetchSettings, VariableReader, type OriginFetchSettings } from '@matrix-notary/common';

export type { OriginFetchSettings };

export class OriginSettingsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'OriginSettingsError';
  }
}

export function originFetchSettingsFromEnv(env: NodeJS.ProcessEnv, readFile?: (path: string) => string): OriginFetchSettings {
  const reader = new VariableReader(env);
  const settings = readOriginFetchSettings(reader, readFile);
  try {
    reader.done();
  } catch (err) {
    if (err instanceof ConfigError) throw new OriginSettingsError(err.message);
    throw err;
  }
  return settings;
}
