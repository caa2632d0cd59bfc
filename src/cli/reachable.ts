import { connect } from 'node:net';

/** How long a client command waits for a TCP connection before it says the host is unreachable. */
export const REACH_TIMEOUT_MS = 3000;

/** A backend a client command talks to, and how a user makes it answer. */
export interface Backend {
  /** `Pub/Sub`, `Firestore`. */
  name: string;
  /** `host:port` from the emulator variable, or undefined for Google's endpoint. */
  emulatorHost: string | undefined;
  /** The emulator variable (`PUBSUB_EMULATOR_HOST`). */
  envName: string;
  /** Google's endpoint, used when no emulator is set. */
  googleHost: string;
}

/** `host` and `port` of `host:port` (IPv6 in brackets allowed). */
function split(hostPort: string, defaultPort: number): { host: string; port: number } {
  const m = /^\[?([^\]]+?)\]?(?::(\d+))?$/.exec(hostPort.trim());
  return { host: m?.[1] ?? hostPort, port: m?.[2] ? Number(m[2]) : defaultPort };
}

/** Why one TCP connection to host:port failed, or undefined once it connects. */
function tryConnect(host: string, port: number, timeoutMs: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const done = (why: string | undefined): void => {
      socket.destroy();
      resolve(why);
    };
    socket.setTimeout(timeoutMs, () => done(`no answer within ${timeoutMs / 1000} s`));
    socket.once('connect', () => done(undefined));
    socket.once('error', (err: NodeJS.ErrnoException) =>
      done(err.code === 'ECONNREFUSED' ? 'connection refused' : (err.code ?? err.message)),
    );
  });
}

/**
 * Fails in one line, within a few seconds, when the backend cannot be reached at all: naming
 * the host it tried and what to start. The Google clients would otherwise retry for a minute
 * and end with a page of gRPC errors.
 */
export async function ensureReachable(
  backend: Backend,
  timeoutMs = REACH_TIMEOUT_MS,
): Promise<void> {
  const target = backend.emulatorHost ?? backend.googleHost;
  const { host, port } = split(target, 443);
  const why = await tryConnect(host, port, timeoutMs);
  if (why === undefined) return;
  const hint = backend.emulatorHost
    ? `is the emulator running? Start the local stack with \`npm start\`, or fix ${backend.envName}`
    : `check the network, or set ${backend.envName} to use the emulator (\`npm start\` prints it)`;
  throw new Error(`cannot reach ${backend.name} at ${target} (${why}): ${hint}`);
}
