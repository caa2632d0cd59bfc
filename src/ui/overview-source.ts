import type { Firestore } from '@google-cloud/firestore';
import { queueSummary } from '../consumer/index.ts';
import type { Overview } from './jobs-view.ts';
import { errorMessage } from '../errors/coerce.ts';

export interface OverviewSourceOptions {
  firestore: Firestore;
  collection: string;
  /** The bridge's base URL, for its `GET /limitz` (the RunJob budget). */
  bridgeUrl?: string;
  /** Counts Firestore reads. */
  onReads: (reads: number) => void;
  /** A refresh asked for sooner than this after the last one is served from the last one. */
  minIntervalMs?: number;
}

/**
 * The strip above the jobs table, shared by every page: queue depth and oldest queued age from
 * Firestore (a count aggregation, one document), the budget from the bridge. Refreshed when a
 * jobs list changes or a page asks, at most every `minIntervalMs`, never per browser.
 */
export class OverviewSource {
  readonly #options: OverviewSourceOptions;
  #last: Overview | undefined;
  #at = 0;
  #running: Promise<Overview> | undefined;
  readonly #listeners = new Set<(view: Overview) => void>();

  constructor(options: OverviewSourceOptions) {
    this.#options = options;
  }

  /** Tells `listener` about every refreshed overview; returns how to stop. */
  subscribe(listener: (view: Overview) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** The overview, refreshed first unless the last one is recent enough. */
  get(): Promise<Overview> {
    const fresh = Date.now() - this.#at < (this.#options.minIntervalMs ?? 2000);
    if (this.#last && fresh) return Promise.resolve(this.#last);
    this.#running ??= this.#refresh().finally(() => (this.#running = undefined));
    return this.#running;
  }

  async #refresh(): Promise<Overview> {
    const { firestore, collection, bridgeUrl } = this.#options;
    const [queue, limitz] = await Promise.allSettled([
      queueSummary(firestore, { collection }),
      bridgeUrl ? readLimitz(bridgeUrl) : Promise.resolve(undefined),
    ]);
    const view: Overview = {};
    if (queue.status === 'fulfilled') {
      view.queue = queue.value;
      this.#options.onReads(queue.value.reads);
    } else view.queueError = messageOf(queue.reason);
    if (limitz.status === 'fulfilled') {
      if (limitz.value) view.limitz = limitz.value;
    } else view.limitzError = `bridge unreachable: ${messageOf(limitz.reason)}`;
    this.#last = view;
    this.#at = Date.now();
    for (const listener of this.#listeners) listener(view);
    return view;
  }
}

async function readLimitz(bridgeUrl: string): Promise<Record<string, unknown>> {
  const res = await fetch(new URL('/limitz', bridgeUrl), { signal: AbortSignal.timeout(1500) });
  if (!res.ok) throw new Error(`GET /limitz answered ${res.status}`);
  return (await res.json()) as Record<string, unknown>;
}

function messageOf(err: unknown): string {
  return errorMessage(err);
}
