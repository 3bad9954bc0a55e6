import { Registry } from 'prom-client';
import { HotPathCounter, HotPathHistogram } from '../src';

test('a hot-path counter is exported in the Prometheus text format, per label set', async () => {
  const registry = new Registry();
  const c = new HotPathCounter({ name: 'x_requests_total', help: 'requests', labelNames: ['route', 'status'], registry });
  const ok = c.child('server', '200');
  ok.inc();
  ok.inc(2);
  c.child('server', '404').inc();
  expect(c.child('server', '200')).toBe(ok); // one child per label set
  const text = await registry.metrics();
  expect(text).toContain('# TYPE x_requests_total counter');
  expect(text).toContain('x_requests_total{route="server",status="200"} 3');
  expect(text).toContain('x_requests_total{route="server",status="404"} 1');
});

test('a hot-path histogram exports cumulative buckets, +Inf, sum and count', async () => {
  const registry = new Registry();
  const h = new HotPathHistogram({ name: 'x_seconds', help: 'time', labelNames: ['route'], buckets: [0.1, 1], registry });
  const t = h.child('q');
  [0.05, 0.1, 0.5, 3].forEach((v) => t.observe(v));
  const text = await registry.metrics();
  expect(text).toContain('# TYPE x_seconds histogram');
  expect(text).toContain('x_seconds_bucket{route="q",le="0.1"} 2');
  expect(text).toContain('x_seconds_bucket{route="q",le="1"} 3');
  expect(text).toContain('x_seconds_bucket{route="q",le="+Inf"} 4');
  expect(text).toContain('x_seconds_sum{route="q"} 3.65');
  expect(text).toContain('x_seconds_count{route="q"} 4');
});

test('the wrong number of label values is refused', () => {
  const c = new HotPathCounter({ name: 'y_total', help: 'y', labelNames: ['a'], registry: new Registry() });
  expect(() => c.child('1', '2')).toThrow(/takes 1 label values/);
});
