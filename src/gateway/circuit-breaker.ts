/**
 * A circuit breaker per upstream (Nygard, "Release It!", 2007): after `failures`
 * consecutive failures it opens and refuses at once for `cooldownMs`, then lets one trial
 * request through (half-open); a success closes it again. A dead upstream then costs its
 * clients nothing but a fast 503 instead of a timeout each.
 */
export class CircuitBreaker {
  private consecutiveFailures = 0;
  private openedAt: number | undefined;
  private trialInFlight = false;

  constructor(
    private readonly failures = 5,
    private readonly cooldownMs = 10_000,
    private readonly now: () => number = Date.now,
  ) {}

  get state(): "closed" | "open" | "half-open" {
    if (this.openedAt === undefined) return "closed";
    return this.now() - this.openedAt >= this.cooldownMs ? "half-open" : "open";
  }

  /** Whether a request may go to the upstream now. */
  allow(): boolean {
    const state = this.state;
    if (state === "closed") return true;
    if (state === "open" || this.trialInFlight) return false;
    this.trialInFlight = true;
    return true;
  }

  success(): void {
    this.consecutiveFailures = 0;
    this.openedAt = undefined;
    this.trialInFlight = false;
  }

  failure(): void {
    this.trialInFlight = false;
    this.consecutiveFailures++;
    if (this.consecutiveFailures >= this.failures || this.openedAt !== undefined) this.openedAt = this.now();
  }
}
