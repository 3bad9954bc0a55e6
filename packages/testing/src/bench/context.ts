/** What every scenario of a bench run shares: its settings, its private parts and its log. */
import type { Cleanup } from './cleanup';
import type { BenchConfig } from './config';
import type { ClusterSettings } from './notary-env';
import type { OriginFarm } from './origin-farm-client';
import type { RedisProbe } from './probes';
import type { RedisChild } from './processes';

export interface BenchContext {
  config: BenchConfig;
  cleanup: Cleanup;
  repoRoot: string;
  /** A private temporary directory, removed at the end. */
  workDir: string;
  /** Where CPU profiles go when BENCH_CPU_PROF=1. */
  profileRoot?: string;
  redis: RedisChild;
  probe: RedisProbe;
  farm: OriginFarm;
  /** What every notary deployment shares (key, token, CA, DNS); each gets its own Redis prefix. */
  cluster: Omit<ClusterSettings, 'prefix' | 'signerUrl'>;
  /** A progress line on the terminal. */
  say(line: string): void;
  /** Node options for a notary process of this label (profiling, GC tracing). */
  nodeArgs(label: string): string[];
  /** Every line a notary process writes, for --trace-gc. */
  onNotaryLine(label: string, line: string): void;
}
