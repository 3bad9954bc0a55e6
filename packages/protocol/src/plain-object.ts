/**
 * The one test for "a JSON object" that every parser of untrusted JSON here uses: an object that
 * is neither null nor an array (JSON.parse makes nothing else that `typeof` calls an object).
 * A caller that holds parsed JSON may name the type it is known to have, e.g.
 * `isPlainObject<JsonObject>(event)`; the default claims no more than string keys.
 */
export function isPlainObject<T extends object = Record<string, unknown>>(v: unknown): v is T {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
