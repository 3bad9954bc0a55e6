/**
 * Whether the signer is believed up. After a countersignature fails for want of a signer, no
 * origin is fetched (its response could not be stored) until a probe of the signer succeeds;
 * probes run at most once per PROBE_EVERY_MS however many jobs ask, so an outage costs the
 * signer one request a second, not one per queued job.
 */
export const PROBE_EVERY_MS = 1000;

export class SignerGate {
  private isDown = false;
  private lastProbeMs = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly probe: () => Promise<unknown>,
    private readonly now: () => number = Date.now,
  ) {}

  /** True when a fetch may go ahead: the signer is up, or a probe just found it back. */
  async ready(): Promise<boolean> {
    if (!this.isDown) return true;
    const now = this.now();
    if (now - this.lastProbeMs < PROBE_EVERY_MS) return false;
    this.lastProbeMs = now;
    try {
      await this.probe();
    } catch {
      return false;
    }
    this.up();
    return true;
  }

  up(): void {
    this.isDown = false;
  }

  down(): void {
    this.isDown = true;
    this.lastProbeMs = this.now();
  }
}
