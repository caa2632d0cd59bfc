import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { PermanentError } from '../src/worker/errors.ts';
import type { JobFunction } from '../src/worker/function-types.ts';

/** What the fan-out stores per input: the SHA-256 and size of its content. */
export interface HashedInput {
  input: string;
  sha256: string;
  bytes: number;
}

/** Reads one input: an http(s) URL or a file path. A missing file or a 4xx is permanent. */
async function read(input: string, signal: AbortSignal): Promise<Buffer> {
  if (/^https?:\/\//i.test(input)) {
    const res = await fetch(input, { signal });
    if (res.status >= 400 && res.status < 500)
      throw new PermanentError(`${input}: HTTP ${res.status}`);
    if (!res.ok) throw new Error(`${input}: HTTP ${res.status}`);
    return Buffer.from(await res.arrayBuffer());
  }
  try {
    return await readFile(input, { signal });
  } catch (err: unknown) {
    if ((err as { code?: unknown }).code === 'ENOENT')
      throw new PermanentError(`${input}: no such file`, { cause: err });
    throw err;
  }
}

/**
 * Fan-out: the inputs are the args (files or URLs); each task takes its shard, reads and hashes
 * each input, reports progress after each, and stores `{ items: HashedInput[] }` as its result.
 */
const fanOut: JobFunction = async (ctx) => {
  const mine = ctx.shard(ctx.args);
  const items: HashedInput[] = [];
  ctx.progress(0, mine.length, `0/${mine.length} inputs`);
  for (const input of mine) {
    ctx.signal.throwIfAborted();
    const content = await read(input, ctx.signal);
    items.push({
      input,
      sha256: createHash('sha256').update(content).digest('hex'),
      bytes: content.length,
    });
    ctx.progress(items.length, mine.length, `${items.length}/${mine.length} inputs`);
  }
  ctx.log.info({ inputs: items.length }, 'fan-out shard done');
  ctx.result({ items });
};

export default fanOut;
