import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { stopProcessGroup } from './google-emulators.ts';
import { DevStackError } from './ports.ts';

const CLI = fileURLToPath(new URL('../cli.ts', import.meta.url));

/** A `jobbridge serve` child of the dev stack. */
export interface BridgeProcess {
  /** Process group id (the child leads its own group). */
  readonly pid: number;
  readonly url: string;
  /** Resolves when the bridge exits, whoever stopped it. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** SIGTERM (the bridge drains in-flight deliveries), SIGKILL after the grace period. */
  stop(): Promise<void>;
}

export interface StartBridgeOptions {
  /** The whole environment of the child: `jobbridge serve` is configured by env only. */
  env: NodeJS.ProcessEnv;
  port: number;
  /** Receives every line the bridge prints (JSON log lines on stdout, anything on stderr). */
  onLine: (line: string) => void;
  startTimeoutMs?: number;
  /**
   * The CLI entry point node runs (`<entry> serve`): this tree's src/cli.ts unless given, e.g.
   * the image's bundle (dist/bundle/jobbridge.mjs), which starts in less time.
   */
  entry?: string;
}

function isListeningLine(line: string): boolean {
  if (!line.startsWith('{')) return false;
  try {
    return (JSON.parse(line) as { message?: unknown }).message === 'bridge listening';
  } catch {
    return false;
  }
}

/**
 * Resolves once `GET url/healthz` answers, polling until `stop()` is called. The bridge's
 * "bridge listening" line is at info level: with LOG_LEVEL=warn or above it never comes.
 */
function answering(url: string): { ready: Promise<void>; stop: () => void } {
  let stopped = false;
  const ready = (async () => {
    while (!stopped) {
      try {
        const res = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(1000) });
        await res.body?.cancel();
        if (res.ok) return;
      } catch {
        // not listening yet
      }
      await new Promise((r) => setTimeout(r, 250));
    }
    await new Promise<never>(() => undefined);
  })();
  return { ready, stop: () => (stopped = true) };
}

/**
 * Starts `node src/cli.ts serve` (or `options.entry`) in its own process group, so that only the dev stack decides when
 * it stops (a terminal's Ctrl-C reaches the dev stack, which then stops the bridge first), and
 * resolves once the bridge logs that it listens or answers on /healthz, whichever comes first.
 */
export async function startBridgeProcess(options: StartBridgeOptions): Promise<BridgeProcess> {
  const child = spawn(process.execPath, [options.entry ?? CLI, 'serve'], {
    env: options.env,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const pid = child.pid;
  if (pid === undefined)
    throw new DevStackError('the bridge (jobbridge serve) could not be spawned');
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  const stderrLines: string[] = [];
  let listening: () => void = () => undefined;
  const ready = new Promise<void>((resolve) => (listening = resolve));
  createInterface({ input: child.stdout }).on('line', (line) => {
    if (isListeningLine(line)) listening();
    options.onLine(line);
  });
  createInterface({ input: child.stderr }).on('line', (line) => {
    if (stderrLines.length < 50) stderrLines.push(line);
    options.onLine(line);
  });
  const handle: BridgeProcess = {
    pid,
    url: `http://127.0.0.1:${options.port}`,
    exited,
    stop: () => stopProcessGroup(child, 10_000),
  };
  const timeoutMs = options.startTimeoutMs ?? 30_000;
  let timer: NodeJS.Timeout | undefined;
  const probe = answering(handle.url);
  const outcome = await Promise.race([
    ready.then(() => 'ready' as const),
    probe.ready.then(() => 'ready' as const),
    exited.then(() => 'exited' as const),
    new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), timeoutMs))),
  ]);
  clearTimeout(timer);
  probe.stop();
  if (outcome === 'ready') return handle;
  await handle.stop();
  // The bridge's config errors are several lines; the first non-empty one names the problem.
  const reason = stderrLines.find(
    (l) =>
      l.trim() !== '' &&
      !/^invalid configuration:?$/.test(l.trim().replace(/^jobbridge serve: /, '')),
  );
  throw new DevStackError(
    outcome === 'exited'
      ? `the bridge (jobbridge serve) exited before listening: ${reason?.trim() ?? 'no output'}`
      : `the bridge (jobbridge serve) did not listen on port ${options.port} within ${timeoutMs} ms`,
  );
}
