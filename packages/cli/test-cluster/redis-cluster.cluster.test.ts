/**
 * test:cluster, Redis Cluster of three masters: one signer, three api pods and two workers behind
 * HAProxy. Single flight holds across the cluster (50 concurrent queries for a new origin through
 * the balancer: exactly one origin fetch), the origins' records spread over the masters while
 * each queue's keys share one slot, and steady load is answered right.
 */
import { bullPrefix, originRecordKey } from '@matrix-notary/store';
import { RedisClusterNodes, type FakeOrigin } from '@matrix-notary/testing';
import { fetchesPerOrigin, Phase, Scenario, SteadyLoad } from './load';
import { NotaryCluster } from './topology';
import { setTimeout as sleep } from 'node:timers/promises';

jest.setTimeout(180_000);

const CONCURRENT_QUERIES = 50;
const SPREAD_ORIGINS = 30;
const LOAD_CONCURRENCY = 6;
const LOAD_RATE_PER_S = 60;
const LOAD_MS = 5000;

let nodes: RedisClusterNodes;
let cluster: NotaryCluster;
let s: Scenario;
let spread: FakeOrigin[] = [];

beforeAll(async () => {
  nodes = await RedisClusterNodes.start({ masters: 3 });
  cluster = await NotaryCluster.start({ redisEnv: { REDIS_CLUSTER_NODES: nodes.nodeList } });
  s = await Scenario.start(cluster, CONCURRENT_QUERIES);
});

afterAll(async () => {
  if (s) {
    s.figures['fetches per origin (spread set)'] = fetchesPerOrigin(spread);
    await s.finish('Redis Cluster (3 masters)');
  }
  await cluster?.stop();
  await nodes?.stop();
});

test(`${CONCURRENT_QUERIES} concurrent queries for a new origin through the balancer cause exactly one origin fetch`, async () => {
  const origin = await cluster.origin();
  s.checker.know(origin);
  origin.delayMs = 500; // the queries overlap the fetch
  const p = new Phase(`${CONCURRENT_QUERIES} concurrent queries, one new origin`, s.checker);
  const answers = await Promise.all(Array.from({ length: CONCURRENT_QUERIES }, () => s.client.query([origin.serverName])));
  answers.forEach((a) => p.record([origin.serverName], [origin.serverName], a));
  const f = p.end();
  s.phases.push(f);
  s.figures['single flight'] = `${CONCURRENT_QUERIES} queries → ${origin.fetches} origin fetch${origin.fetches === 1 ? '' : 'es'}`;
  expect({ fetches: origin.fetches, failed: f.failed, wrong: f.wrong }).toEqual({ fetches: 1, failed: 0, wrong: 0 });
});

test("origins' records spread over every master; each queue's keys share one slot; steady load is answered right", async () => {
  spread = await Promise.all(Array.from({ length: SPREAD_ORIGINS }, () => cluster.origin()));
  spread.forEach((o) => s.checker.know(o));
  const names = spread.map((o) => o.serverName);
  const warm = new Phase(`${SPREAD_ORIGINS} origins fetched`, s.checker);
  warm.record(names, names, await s.client.query(names));
  s.phases.push(warm.end());

  const perNode = await Promise.all(
    nodes.nodes.map(async (n) => {
      const admin = n.admin();
      try {
        const keys: string[] = [];
        let cursor = '0';
        do {
          const [next, batch] = await admin.scan(cursor, 'MATCH', 'notary:*', 'COUNT', 1000);
          keys.push(...batch);
          cursor = next;
        } while (cursor !== '0');
        return keys;
      } finally {
        admin.disconnect();
      }
    }),
  );
  const records = perNode.map((keys) => names.filter((n) => keys.includes(originRecordKey('notary', n))).length);
  const queueKeys = perNode.map((keys) => keys.filter((k) => k.startsWith(bullPrefix('notary'))).length);
  s.figures['origin records per master'] = records.join(' / ');
  s.figures['queue keys per master'] = queueKeys.join(' / ');
  expect(records.every((n) => n > 0)).toBe(true);
  expect(records.reduce((a, b) => a + b, 0)).toBe(SPREAD_ORIGINS);
  expect(queueKeys.filter((n) => n > 0)).toHaveLength(1);

  const load = new SteadyLoad(s.client, () => names, new Phase(`steady load, ${LOAD_MS / 1000} s`, s.checker), LOAD_CONCURRENCY, LOAD_RATE_PER_S);
  await sleep(LOAD_MS);
  await load.stop();
  const steady = load.phase.end();
  s.phases.push(steady);
  expect({ failed: steady.failed, wrong: steady.wrong }).toEqual({ failed: 0, wrong: 0 });
  expect(spread.every((o) => o.fetches === 1)).toBe(true);
});

test('no process printed a stack trace or any line that is not a JSON log line', () => {
  expect(cluster.strays()).toEqual([]);
});
