import { orderSrvRecords } from '../src/srv';

const rec = (name: string, priority: number, weight: number) => ({ name, port: 8448, priority, weight });

describe('orderSrvRecords (RFC 2782)', () => {
  it('orders by ascending priority first', () => {
    const ordered = orderSrvRecords([rec('c', 30, 5), rec('a', 10, 5), rec('b', 20, 5)], () => 0.5);
    expect(ordered.map((r) => r.name)).toEqual(['a', 'b', 'c']);
  });

  it('draws within one priority by weight: the running sum picks the record', () => {
    const records = [rec('light', 10, 1), rec('heavy', 10, 9)];
    // Sorted as light (1), heavy (9): a draw of 0 or 1 picks light, 2..10 heavy.
    expect(orderSrvRecords(records, () => 0).map((r) => r.name)).toEqual(['light', 'heavy']);
    expect(orderSrvRecords(records, () => 0.5).map((r) => r.name)).toEqual(['heavy', 'light']);
    expect(orderSrvRecords(records, () => 0.99).map((r) => r.name)).toEqual(['heavy', 'light']);
  });

  it('gives heavier records proportionally more first places', () => {
    let seed = 42;
    const random = (): number => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    const records = [rec('light', 10, 10), rec('heavy', 10, 90)];
    let heavyFirst = 0;
    for (let i = 0; i < 2000; i++) if (orderSrvRecords(records, random)[0]!.name === 'heavy') heavyFirst++;
    expect(heavyFirst / 2000).toBeGreaterThan(0.8);
    expect(heavyFirst / 2000).toBeLessThan(0.97);
  });

  it('keeps every record exactly once', () => {
    const records = [rec('a', 1, 0), rec('b', 1, 0), rec('c', 2, 3), rec('d', 2, 0)];
    const ordered = orderSrvRecords(records, Math.random);
    expect(ordered.map((r) => r.name).sort()).toEqual(['a', 'b', 'c', 'd']);
    expect(ordered.slice(0, 2).map((r) => r.priority)).toEqual([1, 1]);
  });
});
