import { spawn } from 'node:child_process';

/** Set on the re-executed process so it never re-executes again. */
export const HEAP_SIZED_ENV = 'JOBBRIDGE_HEAP_SIZED';

const FORWARDED: NodeJS.Signals[] = ['SIGTERM', 'SIGINT', 'SIGTSTP', 'SIGCONT'];

/**
 * Runs this same command again under `--max-old-space-size=<mib>` and resolves with its exit
 * code, forwarding the signals Cloud Run sends. Used only when the process was started without
 * a heap sized for its container (the image's entrypoint normally sizes it, so this is rare).
 */
export function reexecWithHeap(mib: number): Promise<number> {
  const child = spawn(
    process.execPath,
    [`--max-old-space-size=${mib}`, ...process.execArgv, ...process.argv.slice(1)],
    { stdio: 'inherit', env: { ...process.env, [HEAP_SIZED_ENV]: 'true' } },
  );
  const forwarders = FORWARDED.map((signal) => {
    const forward = (): void => {
      child.kill(signal);
    };
    process.on(signal, forward);
    return [signal, forward] as const;
  });
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      for (const [s, f] of forwarders) process.off(s, f);
      resolve(code ?? (signal === 'SIGKILL' ? 137 : 1));
    });
  });
}
