import { startBridgeProcess, type BridgeProcess } from '../../src/devstack/bridge-process.ts';

/** What the bridge's log lines told, over all its lives. */
export interface BridgeLogCounts {
  /** Deliveries per reason code (`dispatched`, `rejected:job`, `launch-retryable`, …). */
  outcomes: Record<string, number>;
  /** Dead-letter deliveries (`POST /pubsub/dead-letter`) per outcome. */
  deadLetterOutcomes: Record<string, number>;
}

/** One push delivery the bridge answered, as its log line told it. */
export interface DeliveryRecord {
  /** Epoch ms the line was read. */
  atMs: number;
  requestId: string | undefined;
  outcome: string;
  status: number;
}

/** From the SIGKILL to the restarted bridge listening again (`upMs` unset while it is down). */
export interface DownWindow {
  downMs: number;
  upMs?: number;
}

/**
 * At most `limit` of the bridges sharing it are down at once: a bridge's kill waits until enough
 * of the others are back up (so that, with a limit of 1, two instances are never down together).
 */
export class DownLimit {
  private down = 0;
  private readonly waiting: (() => void)[] = [];
  private readonly limit: number;
  constructor(limit: number) {
    this.limit = limit;
  }

  async acquire(): Promise<() => void> {
    while (this.down >= this.limit) await new Promise<void>((r) => this.waiting.push(r));
    this.down++;
    return () => {
      this.down--;
      this.waiting.shift()?.();
    };
  }
}

export interface RestartingBridgeOptions {
  /** The CLI entry point to run (`serve`): this tree's src/cli.ts unless given (e.g. the bundle). */
  entry?: string;
  /** Shared with the other bridges of a run: how many may be down at once. */
  downLimit?: DownLimit;
}

/**
 * A `jobbridge serve` child that can be SIGKILLed and restarted on the same port, as Cloud Run
 * would replace a crashed instance behind the same URL.
 */
export class RestartingBridge {
  readonly counts: BridgeLogCounts = { outcomes: {}, deadLetterOutcomes: {} };
  /** Every push delivery it answered, over all its lives. */
  readonly deliveries: DeliveryRecord[] = [];
  /** Every time it was down (killed, not yet listening again). */
  readonly downWindows: DownWindow[] = [];
  restarts = 0;
  private current: BridgeProcess | undefined;
  private readonly env: NodeJS.ProcessEnv;
  private readonly port: number;
  private readonly options: RestartingBridgeOptions;
  private chaos: Promise<void> | undefined;
  private stopping = false;
  private wake: (() => void) | undefined;

  constructor(env: NodeJS.ProcessEnv, port: number, options: RestartingBridgeOptions = {}) {
    this.env = env;
    this.port = port;
    this.options = options;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  private onLine = (line: string): void => {
    if (!line.startsWith('{')) return;
    let parsed: { message?: unknown; outcome?: unknown; status?: unknown; requestId?: unknown };
    try {
      parsed = JSON.parse(line) as typeof parsed;
    } catch {
      return; // a line cut by SIGKILL
    }
    if (typeof parsed.outcome !== 'string') return;
    if (parsed.message === 'dead letter') {
      const n = this.counts.deadLetterOutcomes[parsed.outcome] ?? 0;
      this.counts.deadLetterOutcomes[parsed.outcome] = n + 1;
      return;
    }
    if (parsed.message !== 'push delivery') return;
    this.counts.outcomes[parsed.outcome] = (this.counts.outcomes[parsed.outcome] ?? 0) + 1;
    this.deliveries.push({
      atMs: Date.now(),
      requestId: typeof parsed.requestId === 'string' ? parsed.requestId : undefined,
      outcome: parsed.outcome,
      status: Number(parsed.status),
    });
  };

  async start(): Promise<void> {
    this.current = await startBridgeProcess({
      env: this.env,
      port: this.port,
      onLine: this.onLine,
      ...(this.options.entry !== undefined ? { entry: this.options.entry } : {}),
    });
    const down = this.downWindows.at(-1);
    if (down !== undefined && down.upMs === undefined) down.upMs = Date.now();
  }

  /** SIGKILL: no drain, no goodbye, whatever it was doing. */
  async kill(): Promise<void> {
    const bridge = this.current;
    if (bridge === undefined) return;
    this.current = undefined;
    this.downWindows.push({ downMs: Date.now() });
    try {
      process.kill(bridge.pid, 'SIGKILL');
    } catch {
      // already gone
    }
    await bridge.exited;
  }

  /**
   * Kills and restarts the bridge every `minMs`..`maxMs` until `stopChaos()`; the first kill
   * comes after `firstMs` when given, so that a run that settles fast still meets one.
   */
  startChaos(minMs: number, maxMs: number, random: () => number, firstMs?: number): void {
    this.chaos = (async () => {
      let first = firstMs;
      while (!this.stopping) {
        const waitMs = first ?? minMs + random() * (maxMs - minMs);
        first = undefined;
        await new Promise<void>((resolve) => {
          this.wake = resolve;
          setTimeout(resolve, waitMs);
        });
        if (this.stopping) break;
        const release = (await this.options.downLimit?.acquire()) ?? (() => undefined);
        if (this.stopping) {
          release();
          break;
        }
        try {
          // Restarted at once, as Cloud Run replaces a crashed instance.
          await this.kill();
          await this.start();
        } finally {
          release();
        }
        this.restarts++;
      }
    })();
  }

  /** Ends the kill loop, leaving a bridge running. */
  async stopChaos(): Promise<void> {
    this.stopping = true;
    this.wake?.();
    await this.chaos;
  }

  /** Ends the loop and kills the bridge for good. */
  async close(): Promise<void> {
    await this.stopChaos();
    await this.kill();
  }
}
