/** Stops a listener. */
export type Stop = () => void;

/** Starts one Firestore listener for a key: `emit` on each change, `fail` when it stops on error. */
export type FeedStarter<K, T> = (
  key: K,
  emit: (value: T) => void,
  fail: (err: Error) => void,
) => Stop;

/** One reader's hold on a feed. */
export interface FeedHandle<T> {
  /** The first value (at once when the feed already has one). */
  readonly first: Promise<T>;
  /** Lets go; the listener stops `lingerMs` after its last reader let go. */
  close(): void;
}

interface Entry<T> {
  value?: T;
  error?: Error;
  readers: Set<Reader<T>>;
  stop: Stop;
  linger?: NodeJS.Timeout;
}

interface Reader<T> {
  onValue?: (value: T) => void;
  onError?: (err: Error) => void;
  resolve: (value: T) => void;
  reject: (err: Error) => void;
}

/**
 * Live feeds shared by every reader of the same key: one Firestore listener per jobs filter or
 * per job, however many pages are open on it, so a thousand open tabs cost one listener's reads.
 * A feed outlives its last reader by `lingerMs`, so the page's event stream, opened right after
 * the page was rendered from the same feed, finds it still there.
 */
export class LiveFeeds<K, T> {
  readonly #entries = new Map<string, Entry<T>>();
  readonly #start: FeedStarter<K, T>;
  readonly #keyOf: (key: K) => string;
  readonly #lingerMs: number;

  constructor(options: { start: FeedStarter<K, T>; keyOf: (key: K) => string; lingerMs: number }) {
    this.#start = options.start;
    this.#keyOf = options.keyOf;
    this.#lingerMs = options.lingerMs;
  }

  /** Feeds with a running listener. */
  get size(): number {
    return this.#entries.size;
  }

  /**
   * Holds the feed for `key`, starting its listener if none runs. `onValue` gets the current value
   * (if any) and every later one; `onError` is told when the listener fails.
   */
  open(
    key: K,
    listeners: { onValue?: (value: T) => void; onError?: (err: Error) => void } = {},
  ): FeedHandle<T> {
    const id = this.#keyOf(key);
    let entry = this.#entries.get(id);
    if (!entry) {
      const created: Entry<T> = { readers: new Set(), stop: () => undefined };
      this.#entries.set(id, created);
      entry = created;
      created.stop = this.#start(
        key,
        (value) => {
          created.value = value;
          for (const reader of created.readers) {
            reader.resolve(value);
            reader.onValue?.(value);
          }
        },
        (err) => {
          created.error = err;
          if (this.#entries.get(id) === created) this.#entries.delete(id);
          for (const reader of created.readers) {
            reader.reject(err);
            reader.onError?.(err);
          }
        },
      );
    }
    const held = entry;
    if (held.linger) {
      clearTimeout(held.linger);
      delete held.linger;
    }
    let reader!: Reader<T>;
    const first = new Promise<T>((resolve, reject) => {
      reader = { ...listeners, resolve, reject };
    });
    // A reader that only wants `onValue` must not see an unhandled rejection.
    first.catch(() => undefined);
    held.readers.add(reader);
    if (held.error) reader.reject(held.error);
    else if (held.value !== undefined) {
      reader.resolve(held.value);
      reader.onValue?.(held.value);
    }
    let closed = false;
    return {
      first,
      close: () => {
        if (closed) return;
        closed = true;
        held.readers.delete(reader);
        if (held.readers.size > 0 || this.#entries.get(id) !== held) return;
        held.linger = setTimeout(() => {
          if (held.readers.size > 0) return;
          this.#entries.delete(id);
          held.stop();
        }, this.#lingerMs);
      },
    };
  }

  /** Stops every listener (the server is closing). */
  stopAll(): void {
    for (const entry of this.#entries.values()) {
      if (entry.linger) clearTimeout(entry.linger);
      entry.stop();
    }
    this.#entries.clear();
  }
}
