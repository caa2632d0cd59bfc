import { startBridgeProcess, type BridgeProcess } from '../../src/devstack/bridge-process.ts';

/** What the bridge's log lines told, over all its lives. */
export interface BridgeLogCounts {
  /** Deliveries per reason code (`dispatched`, `rejected:job`, `launch-retryable`, …). */
  outcomes: Record<string, number>;
  /** `launch-retryable` answers caused by the Cloud Run Jobs emulator's injected faults. */
}

/**
 * A `jobbridge serve` child that can be SIGKILLed and restarted on the same port, as Cloud Run
 * would replace a crashed instance behind the same URL.
 */
export class RestartingBridge {
  readonly counts: BridgeLogCounts = { outcomes: {} };
  restarts = 0;
  private current: BridgeProcess | undefined;
  private readonly env: NodeJS.ProcessEnv;
  private readonly port: number;
  private chaos: Promise<void> | undefined;
  private stopping = false;
  private wake: (() => void) | undefined;

  constructor(env: NodeJS.ProcessEnv, port: number) {
    this.env = env;
    this.port = port;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  private onLine = (line: string): void => {
    if (!line.startsWith('{')) return;
    let parsed: { message?: unknown; outcome?: unknown };
    try {
      parsed = JSON.parse(line) as typeof parsed;
    } catch {
      return; // a line cut by SIGKILL
    }
    if (parsed.message !== 'push delivery' || typeof parsed.outcome !== 'string') return;
    this.counts.outcomes[parsed.outcome] = (this.counts.outcomes[parsed.outcome] ?? 0) + 1;
  };

  async start(): Promise<void> {
    this.current = await startBridgeProcess({
      env: this.env,
      port: this.port,
      onLine: this.onLine,
    });
  }

  /** SIGKILL: no drain, no goodbye, whatever it was doing. */
  async kill(): Promise<void> {
    const bridge = this.current;
    if (bridge === undefined) return;
    this.current = undefined;
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
        await this.kill();
        await this.start();
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
