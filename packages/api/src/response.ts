/**
 * The answer to a key query: stored response bytes joined into `{"server_keys":[...]}`, unparsed,
 * in one allocation (the length is known before anything is copied).
 */
const OPEN = Buffer.from('{"server_keys":[');
const CLOSE = Buffer.from(']}');
const COMMA = 0x2c;

/** `groups`: the entries of each server asked, in the order asked (a server may have none). */
export function assembleResponse(groups: ReadonlyArray<readonly Buffer[] | undefined>): Buffer {
  let length = OPEN.length + CLOSE.length;
  let count = 0;
  for (const group of groups) {
    if (group === undefined) continue;
    for (const e of group) {
      length += e.length;
      count++;
    }
  }
  if (count > 1) length += count - 1;
  const out = Buffer.allocUnsafe(length);
  let at = OPEN.copy(out, 0);
  let first = true;
  for (const group of groups) {
    if (group === undefined) continue;
    for (const e of group) {
      if (!first) out[at++] = COMMA;
      first = false;
      at += e.copy(out, at);
    }
  }
  CLOSE.copy(out, at);
  return out;
}
