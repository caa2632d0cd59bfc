import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createServer, type Server } from 'node:net';

/** One of the official Google emulators that ship with google-cloud-cli. */
export type GoogleEmulatorKind = 'pubsub' | 'firestore';

/** A running emulator: its `host:port`, and a stop that leaves no process behind. */
export interface RunningEmulator {
  readonly kind: GoogleEmulatorKind;
  /** `127.0.0.1:PORT`, the value for PUBSUB_EMULATOR_HOST / FIRESTORE_EMULATOR_HOST. */
  readonly host: string;
  readonly pid: number;
  stop(): Promise<void>;
}

export interface StartEmulatorOptions {
  /** Port to listen on; a free one is picked when omitted. */
  port?: number;
  /** How long to wait for the emulator to answer, default 60 s (Java start-up on a busy machine). */
  startTimeoutMs?: number;
  /** Receives every line the emulator prints (for logs); default drops them. */
  onLine?: (line: string) => void;
}

const SPECS: Record<
  GoogleEmulatorKind,
  { args: string[]; env: string; component: string; pkg: string }
> = {
  pubsub: {
    args: ['beta', 'emulators', 'pubsub', 'start'],
    env: 'PUBSUB_EMULATOR_HOST',
    component: 'pubsub-emulator',
    pkg: 'google-cloud-cli-pubsub-emulator',
  },
  firestore: {
    args: ['emulators', 'firestore', 'start'],
    env: 'FIRESTORE_EMULATOR_HOST',
    component: 'cloud-firestore-emulator',
    pkg: 'google-cloud-cli-firestore-emulator',
  },
};

/** What to install, said the same way wherever an emulator is missing. */
export const INSTALL_HINT =
  'install the emulators with `gcloud components install pubsub-emulator cloud-firestore-emulator` ' +
  '(or the Debian packages google-cloud-cli-pubsub-emulator and google-cloud-cli-firestore-emulator), and Java 17+';

/** An emulator could not be started; the message says what to install or what went wrong. */
export class EmulatorStartError extends Error {
  override readonly name = 'EmulatorStartError';
}

/** Asks the kernel for a port that is free right now on 127.0.0.1. */
export async function freePort(): Promise<number> {
  return (await freePorts(['port'])).port;
}

/**
 * A port for each name, free right now on 127.0.0.1 and all different: each is held until every
 * one is chosen, since a port closed before the next is asked for may be handed out again.
 */
export async function freePorts<K extends string>(names: readonly K[]): Promise<Record<K, number>> {
  const servers: Server[] = [];
  try {
    const ports = {} as Record<K, number>;
    for (const name of names) {
      const server = createServer();
      server.unref();
      servers.push(server);
      ports[name] = await new Promise<number>((resolve, reject) => {
        server.once('error', reject);
        server.listen(0, '127.0.0.1', () => {
          const address = server.address();
          resolve(typeof address === 'object' && address !== null ? address.port : 0);
        });
      });
    }
    return ports;
  } finally {
    await Promise.all(
      servers.map(
        (s) => new Promise<void>((resolve) => (s.listening ? s.close(() => resolve()) : resolve())),
      ),
    );
  }
}

/** Fails at once, naming what to install, when gcloud or Java is not on PATH. */
export function assertEmulatorToolsPresent(): void {
  for (const tool of ['gcloud', 'java']) {
    const found = spawnSync('sh', ['-c', `command -v ${tool}`], { encoding: 'utf8' });
    if (found.status !== 0) {
      throw new EmulatorStartError(`${tool} is not on PATH: ${INSTALL_HINT}`);
    }
  }
}

async function portIsTaken(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(true));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(false)));
  });
}

/**
 * Starts one official emulator in its own process group (gcloud is a wrapper: killing it alone
 * leaves the java process running) and resolves once it answers HTTP on its port.
 */
export async function startGoogleEmulator(
  kind: GoogleEmulatorKind,
  options: StartEmulatorOptions = {},
): Promise<RunningEmulator> {
  const spec = SPECS[kind];
  assertEmulatorToolsPresent();
  const port = options.port ?? (await freePort());
  if (options.port !== undefined && (await portIsTaken(port))) {
    throw new EmulatorStartError(`${kind} emulator: port ${port} on 127.0.0.1 is already in use`);
  }
  const host = `127.0.0.1:${port}`;
  const child = spawn('gcloud', [...spec.args, `--host-port=${host}`, '--quiet'], {
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, CLOUDSDK_CORE_DISABLE_PROMPTS: '1' },
  });
  const pid = child.pid;
  if (pid === undefined)
    throw new EmulatorStartError(`${kind} emulator: gcloud could not be spawned`);
  const output: string[] = [];
  const collect = (chunk: Buffer): void => {
    for (const line of chunk.toString('utf8').split('\n')) {
      if (line.trim() === '') continue;
      if (output.length < 200) output.push(line);
      options.onLine?.(line);
    }
  };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);

  const handle: RunningEmulator = {
    kind,
    host,
    pid,
    stop: () => stopProcessGroup(child),
  };
  try {
    await waitUntilAnswering(kind, child, host, options.startTimeoutMs ?? 60_000, output);
  } catch (err) {
    await handle.stop();
    throw err;
  }
  return handle;
}

async function waitUntilAnswering(
  kind: GoogleEmulatorKind,
  child: ChildProcess,
  host: string,
  timeoutMs: number,
  output: string[],
): Promise<void> {
  const spec = SPECS[kind];
  const deadline = Date.now() + timeoutMs;
  let exited: number | null | undefined;
  child.once('exit', (code) => {
    exited = code;
  });
  while (Date.now() < deadline) {
    if (exited !== undefined) {
      const text = output.join('\n');
      const missing = /component|not installed|install/i.test(text);
      throw new EmulatorStartError(
        `${kind} emulator exited (code ${exited}) before answering on ${host}` +
          (missing
            ? `: the ${spec.component} component seems missing; ${INSTALL_HINT}`
            : `; ${INSTALL_HINT}`) +
          `\n--- emulator output ---\n${text}`,
      );
    }
    try {
      const res = await fetch(`http://${host}/`, { signal: AbortSignal.timeout(1000) });
      if (res.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new EmulatorStartError(
    `${kind} emulator did not answer on ${host} within ${timeoutMs} ms\n--- emulator output ---\n${output.join('\n')}`,
  );
}

function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
}

/** SIGTERM to the whole group, then SIGKILL after 5 s; resolves when no member is left. */
export async function stopProcessGroup(child: ChildProcess, graceMs = 5000): Promise<void> {
  const pgid = child.pid;
  if (pgid === undefined) return;
  try {
    process.kill(-pgid, 'SIGTERM');
  } catch {
    return;
  }
  const deadline = Date.now() + graceMs;
  while (groupAlive(pgid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  if (groupAlive(pgid)) {
    try {
      process.kill(-pgid, 'SIGKILL');
    } catch {
      // already gone
    }
    while (groupAlive(pgid)) await new Promise((r) => setTimeout(r, 20));
  }
}

/** Starts both emulators in parallel; stops whichever started if the other fails. */
export async function startGoogleEmulators(
  options: {
    pubsubPort?: number;
    firestorePort?: number;
    onLine?: (kind: GoogleEmulatorKind, line: string) => void;
  } = {},
): Promise<{ pubsub: RunningEmulator; firestore: RunningEmulator; stop(): Promise<void> }> {
  const results = await Promise.allSettled([
    startGoogleEmulator('pubsub', {
      port: options.pubsubPort,
      onLine: options.onLine && ((l) => options.onLine?.('pubsub', l)),
    }),
    startGoogleEmulator('firestore', {
      port: options.firestorePort,
      onLine: options.onLine && ((l) => options.onLine?.('firestore', l)),
    }),
  ]);
  const started = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  const failed = results.find((r) => r.status === 'rejected');
  if (failed) {
    await Promise.all(started.map((e) => e.stop()));
    throw failed.reason;
  }
  const [pubsub, firestore] = started as [RunningEmulator, RunningEmulator];
  return {
    pubsub,
    firestore,
    stop: async () => {
      await Promise.all([pubsub.stop(), firestore.stop()]);
    },
  };
}

/** The env var a Google client reads to find this emulator. */
export function emulatorEnvName(kind: GoogleEmulatorKind): string {
  return SPECS[kind].env;
}
