/** Origin-fetch metrics. Labels are short words from fixed sets: never a server name. */
import { Counter, Histogram, type Registry } from 'prom-client';

const FETCHES = 'matrix_notary_origin_fetches_total';
const REFUSALS = 'matrix_notary_origin_fetch_refusals_total';
const DURATION = 'matrix_notary_origin_fetch_duration_seconds';

export class FederationMetrics {
  readonly fetches: Counter<'outcome'>;
  readonly refusals: Counter<'reason'>;
  readonly duration: Histogram<'outcome'>;

  /** Without a registry the metrics still count, but nothing exports them. */
  constructor(registry?: Registry) {
    const registers = registry ? [registry] : [];
    // Several clients may share one registry (e.g. worker and keyring in one process): reuse.
    const existing = <T>(name: string): T | undefined => registry?.getSingleMetric(name) as T | undefined;
    this.fetches =
      existing<Counter<'outcome'>>(FETCHES) ??
      new Counter({
        name: FETCHES,
        help: 'Fetches of origin servers\' keys, by outcome: success, or the reason of the failure',
        labelNames: ['outcome'],
        registers,
      });
    this.refusals =
      existing<Counter<'reason'>>(REFUSALS) ??
      new Counter({
        name: REFUSALS,
        help: 'Connections or responses the notary refused (forbidden address, bad certificate, too large, too slow, ...), by reason',
        labelNames: ['reason'],
        registers,
      });
    this.duration =
      existing<Histogram<'outcome'>>(DURATION) ??
      new Histogram({
        name: DURATION,
        help: 'Time from the start of an origin fetch (discovery included) to its end',
        labelNames: ['outcome'],
        buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
        registers,
      });
  }
}
