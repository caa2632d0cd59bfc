import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { getHeapStatistics } from 'node:v8';

/** Values at or above this in cgroup v1's limit_in_bytes mean "no limit" (page-rounded 2^63). */
const V1_UNLIMITED = 2 ** 60;

/**
 * The container's memory limit in bytes from cgroup v2 `memory.max`, else cgroup v1
 * `memory/memory.limit_in_bytes`; `undefined` when there is none or it cannot be read.
 */
export async function readContainerMemoryLimit(cgroupRoot: string): Promise<number | undefined> {
  const v2 = await readTrimmed(join(cgroupRoot, 'memory.max'));
  if (v2 !== undefined) return v2 === 'max' ? undefined : positive(v2);
  const v1 = await readTrimmed(join(cgroupRoot, 'memory', 'memory.limit_in_bytes'));
  if (v1 === undefined) return undefined;
  const n = positive(v1);
  return n !== undefined && n < V1_UNLIMITED ? n : undefined;
}

async function readTrimmed(path: string): Promise<string | undefined> {
  try {
    return (await readFile(path, 'utf8')).trim();
  } catch {
    return undefined;
  }
}

function positive(text: string): number | undefined {
  const n = Number(text);
  return Number.isFinite(n) && n > 0 ? n : undefined;
}

const HEAP_FLAG =
  /--max-old-space-size(?:-percentage)?[= ]|--max-heap-size[= ]|--max_old_space_size[= ]/;

/** Whether the user chose the heap size: a flag on node's command line or in NODE_OPTIONS. */
export function userHeapFlag(
  execArgv: readonly string[],
  nodeOptions: string | undefined,
): string | undefined {
  const all = [...execArgv, ...(nodeOptions ?? '').split(/\s+/)];
  return all.find((a) => HEAP_FLAG.test(`${a} `));
}

export interface HeapPlan {
  containerLimitBytes: number | undefined;
  heapLimitBytes: number;
  /** The `--max-old-space-size` (MiB) the process should run with, when it is not sized so already. */
  resizeToMiB: number | undefined;
  userFlag: string | undefined;
}

/**
 * Decides the heap: with no heap flag (the image's entrypoint passes
 * `--max-old-space-size-percentage`, which counts) and a container limit, the old space should be
 * `percentage` % of the container's memory, and the process asks to be re-executed with it.
 * `heap_size_limit` also counts the young generation (a constant on top of the old space).
 */
export function planHeap(input: {
  containerLimitBytes: number | undefined;
  percentage: number;
  execArgv: readonly string[];
  nodeOptions: string | undefined;
  heapLimitBytes?: number;
}): HeapPlan {
  const heapLimitBytes = input.heapLimitBytes ?? getHeapStatistics().heap_size_limit;
  const userFlag = userHeapFlag(input.execArgv, input.nodeOptions);
  const resizeToMiB =
    !userFlag && input.containerLimitBytes !== undefined
      ? Math.max(16, Math.floor((input.containerLimitBytes * input.percentage) / 100 / 2 ** 20))
      : undefined;
  return { containerLimitBytes: input.containerLimitBytes, heapLimitBytes, resizeToMiB, userFlag };
}
