/**
 * Push tokens that passed full verification, each until its `exp`. Pub/Sub signs one token and
 * reuses it for its push requests until it nears expiry, so without this every delivery parsed
 * the signing certificate and checked an RSA signature for the same bytes again. A token is
 * kept only after google-auth-library accepted it and its claims matched; it is the exact token
 * string that is remembered, so any other token (a forged signature included) is verified in
 * full. No clock skew is granted past `exp`: after it, the library decides again.
 */
export class VerifiedTokens {
  private readonly maxEntries: number;
  private readonly now: () => number;
  /** Token → its expiry (epoch ms), oldest first. */
  private readonly expiries = new Map<string, number>();

  constructor(options: { maxEntries?: number; now?: () => number } = {}) {
    this.maxEntries = options.maxEntries ?? 64;
    this.now = options.now ?? Date.now;
  }

  /** True when `token` was verified and has not expired yet. */
  has(token: string): boolean {
    const expiresAt = this.expiries.get(token);
    if (expiresAt === undefined) return false;
    if (this.now() < expiresAt) return true;
    this.expiries.delete(token);
    return false;
  }

  /** Remembers a verified token until `expSeconds` (its `exp` claim). */
  add(token: string, expSeconds: number | undefined): void {
    if (expSeconds === undefined || !Number.isFinite(expSeconds)) return;
    // Bounded: a flood of distinct valid tokens evicts the oldest, never grows the process.
    if (this.expiries.size >= this.maxEntries) {
      const oldest = this.expiries.keys().next();
      if (oldest.done !== true) this.expiries.delete(oldest.value);
    }
    this.expiries.set(token, expSeconds * 1000);
  }

  get size(): number {
    return this.expiries.size;
  }
}
