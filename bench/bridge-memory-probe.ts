/**
 * Loaded into the bridge by `bench:bridge` only (`--import`, with `--expose-gc`): on SIGUSR2 it
 * forces a full GC and writes one stderr line `PROBE {…}` with the memory figures, so the bench
 * can tell retained memory (heapUsed after GC) from heap the GC has simply not returned yet.
 */
import { readFileSync } from 'node:fs';
import v8 from 'node:v8';

const mb = (bytes: number) => Math.round(bytes / 1e5) / 10;

process.on('SIGUSR2', () => {
  const gc = (globalThis as { gc?: () => void }).gc;
  gc?.();
  gc?.();
  const usage = process.memoryUsage();
  const status = readFileSync('/proc/self/status', 'utf8');
  const kb = (field: string) => Number(new RegExp(`${field}:\\s+(\\d+)`).exec(status)?.[1] ?? 0);
  const probe = {
    gcForced: gc !== undefined,
    rssMb: mb(usage.rss),
    rssAnonMb: mb(kb('RssAnon') * 1024),
    rssFileMb: mb(kb('RssFile') * 1024),
    heapTotalMb: mb(usage.heapTotal),
    heapUsedMb: mb(usage.heapUsed),
    externalMb: mb(usage.external),
    heapLimitMb: mb(v8.getHeapStatistics().heap_size_limit),
  };
  process.stderr.write(`PROBE ${JSON.stringify(probe)}\n`);
});
