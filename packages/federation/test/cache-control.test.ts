import { freshnessLifetimeMs } from '../src/cache-control';

const NOW = Date.UTC(2030, 0, 1);

describe('freshnessLifetimeMs', () => {
  it('reads max-age among other directives', () => {
    expect(freshnessLifetimeMs({ 'cache-control': 'public, max-age=600, must-revalidate' }, NOW)).toBe(600_000);
    expect(freshnessLifetimeMs({ 'cache-control': 'MAX-AGE="30"' }, NOW)).toBe(30_000);
  });

  it('gives 0 for no-store and no-cache', () => {
    expect(freshnessLifetimeMs({ 'cache-control': 'no-store' }, NOW)).toBe(0);
    expect(freshnessLifetimeMs({ 'cache-control': 'max-age=600, no-cache' }, NOW)).toBe(0);
  });

  it('prefers max-age over Expires', () => {
    const expires = new Date(NOW + 3_600_000).toUTCString();
    expect(freshnessLifetimeMs({ 'cache-control': 'max-age=60', expires }, NOW)).toBe(60_000);
  });

  it('measures Expires from Date, or from now without one', () => {
    const date = new Date(NOW - 1_000_000).toUTCString();
    const expires = new Date(NOW - 1_000_000 + 120_000).toUTCString();
    expect(freshnessLifetimeMs({ date, expires }, NOW)).toBe(120_000);
    expect(freshnessLifetimeMs({ expires: new Date(NOW + 90_000).toUTCString() }, NOW)).toBe(90_000);
  });

  it('treats an invalid or past Expires as already expired', () => {
    expect(freshnessLifetimeMs({ expires: '0' }, NOW)).toBe(0);
    expect(freshnessLifetimeMs({ expires: new Date(NOW - 5000).toUTCString() }, NOW)).toBe(0);
  });

  it('gives undefined when the headers say nothing', () => {
    expect(freshnessLifetimeMs({}, NOW)).toBeUndefined();
    expect(freshnessLifetimeMs({ 'cache-control': 'public' }, NOW)).toBeUndefined();
  });
});
