import { isPlainObject } from '../src';

test('a JSON object is a plain object; null, arrays and every other JSON value are not', () => {
  expect(isPlainObject(JSON.parse('{}'))).toBe(true);
  expect(isPlainObject(JSON.parse('{"a":[1]}'))).toBe(true);
  for (const text of ['null', '[]', '[{}]', '0', '"{}"', 'true']) expect(isPlainObject(JSON.parse(text))).toBe(false);
  expect(isPlainObject(undefined)).toBe(false);
});
