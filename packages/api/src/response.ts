/** The answer to a key query: stored response bytes joined into `{"server_keys":[...]}`, unparsed. */
const OPEN = Buffer.from('{"server_keys":[');
const COMMA = Buffer.from(',');
const CLOSE = Buffer.from(']}');

export function assembleResponse(entries: readonly Buffer[]): Buffer {
  const parts: Buffer[] = [OPEN];
  entries.forEach((e, i) => {
    if (i > 0) parts.push(COMMA);
    parts.push(e);
  });
  parts.push(CLOSE);
  return Buffer.concat(parts);
}
