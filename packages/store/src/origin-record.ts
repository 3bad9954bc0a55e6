/**
 * Pure parsers of an origin's record: stored responses (`latest`, `r:<id>`), bindings (in the
 * latest's header and `k:<key ID>`) and the `up` field. The layout, field by field, is described
 * in ../SCHEMA.md (the one description; the Lua scripts in ../lua write it, the lookup and
 * `matrix-notary inspect` read it).
 */

export type BindingState = 'a' | 'o' | 'f' | 'g';

export interface Binding {
  state: BindingState;
  /** ID of the response answering for this key ID; '0' when none does. */
  holder: string;
  body: string;
  firstSeenTs: number;
  lastSeenActiveTs: number;
  retiredTs: number;
  expiredTs: number;
  /** Learned from an upstream notary, not yet seen in a response of the origin itself. */
  provisional: boolean;
}

const BINDING = /^([aofg]),(\d+),([^,]*),([0-9a-z]*),([0-9a-z]*),([0-9a-z]*),([0-9a-z]*)(,p)?$/;

function ms(base36: string): number {
  return base36 === '' ? 0 : parseInt(base36, 36);
}

export function parseBinding(text: string): Binding | undefined {
  const m = BINDING.exec(text);
  if (m === null) return undefined;
  return {
    state: m[1] as BindingState,
    holder: m[2],
    body: m[3],
    firstSeenTs: ms(m[4]),
    lastSeenActiveTs: ms(m[5]),
    retiredTs: ms(m[6]),
    expiredTs: ms(m[7]),
    provisional: m[8] !== undefined,
  };
}

/** The `up` field: which stored response was learned from which upstream notary. */
export function parseLearnedFrom(text: string): { responseId: number; upstream: string } | undefined {
  const m = /^(\d+) (\S+)$/.exec(text);
  return m === null ? undefined : { responseId: Number(m[1]), upstream: m[2] };
}

/** The holder ID of a binding's text, without parsing the rest: `a,17,...` → 17 (0: none). */
export function holderOf(text: string): number | undefined {
  if (text.charCodeAt(1) !== 0x2c /* , */) return undefined;
  let holder = 0;
  let end = 2;
  for (; end < text.length; end++) {
    const c = text.charCodeAt(end);
    if (c === 0x2c) break;
    if (c < 0x30 || c > 0x39) return undefined;
    holder = holder * 10 + (c - 0x30);
  }
  return end > 2 && end < text.length ? holder : undefined;
}

export interface StoredResponse {
  id: number;
  validUntilTs: number;
  fetchedTs: number;
  /** The countersigned bytes, as served (a view into the stored value, not a copy). */
  bytes: Buffer;
  /** The whole stored value and where its header line ends (see headerOf). */
  value: Buffer;
  headerEnd: number;
}

const SPACE = 0x20;
const NEWLINE = 0x0a;

/** Reads a decimal field of the header at `from` (ending at a space or the newline). */
function digitsAt(value: Buffer, from: number): [number, number] | undefined {
  let n = 0;
  let i = from;
  for (; i < value.length; i++) {
    const c = value[i];
    if (c === SPACE || c === NEWLINE) break;
    if (c < 0x30 || c > 0x39) return undefined;
    n = n * 10 + (c - 0x30);
  }
  return i === from || i === value.length ? undefined : [n, i];
}

/**
 * Splits a stored `latest` or `r:<id>` value, reading only its fixed header fields (this runs on
 * every cache hit: no regular expression, no string of the whole header); undefined for anything
 * in another layout.
 */
export function parseStoredResponse(value: Buffer): StoredResponse | undefined {
  if (value.length < 4 || value[0] !== 0x4e /* N */ || value[1] !== 0x31 /* 1 */ || value[2] !== SPACE) return undefined;
  const id = digitsAt(value, 3);
  if (id === undefined || value[id[1]] !== SPACE) return undefined;
  const valid = digitsAt(value, id[1] + 1);
  if (valid === undefined || value[valid[1]] !== SPACE) return undefined;
  const fetched = digitsAt(value, valid[1] + 1);
  if (fetched === undefined) return undefined;
  const headerEnd = value.indexOf(NEWLINE, fetched[1]);
  if (headerEnd < 0) return undefined;
  return {
    id: id[0],
    validUntilTs: valid[0],
    fetchedTs: fetched[0],
    bytes: value.subarray(headerEnd + 1),
    value,
    headerEnd,
  };
}

/** The header line of a stored response (bindings of the latest's key IDs follow its fixed fields). */
export function headerOf(response: StoredResponse): string {
  return response.value.toString('latin1', 0, response.headerEnd);
}

/** The binding text of `keyId` in a latest response's header, or undefined. */
export function bindingInHeader(header: string, keyId: string): string | undefined {
  const needle = ` ${keyId}=`;
  const at = header.indexOf(needle);
  if (at < 0) return undefined;
  const start = at + needle.length;
  const end = header.indexOf(' ', start);
  return header.slice(start, end < 0 ? header.length : end);
}

/** Every binding in a latest response's header, in order. */
export function bindingsInHeader(header: string): Array<[string, Binding]> {
  const out: Array<[string, Binding]> = [];
  for (const token of header.split(' ').slice(4)) {
    const eq = token.indexOf('=');
    const binding = eq > 0 ? parseBinding(token.slice(eq + 1)) : undefined;
    if (binding !== undefined) out.push([token.slice(0, eq), binding]);
  }
  return out;
}
