import { createServer } from 'node:net';
import { freePort } from './google-emulators.ts';

/** A port of the dev stack, with the flag that sets it (so an error can say what to change). */
export interface PortRequest {
  /** What listens there, e.g. `Pub/Sub emulator`. */
  what: string;
  /** The option that sets it, e.g. `--pubsub-port`. */
  flag: string;
  /** 0 picks a free port. */
  port: number;
}

/** The dev stack cannot start; the message is one line that says what to do. */
export class DevStackError extends Error {
  override readonly name = 'DevStackError';
}

function isTaken(port: number, host: string): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(true));
    server.listen({ port, host, exclusive: true }, () => server.close(() => resolve(false)));
  });
}

/**
 * Turns 0 into a free port and checks every other port before anything starts, so a taken port
 * fails in a second with one line naming the flag, instead of after Java has started.
 */
export async function resolvePorts<K extends string>(
  requests: Record<K, PortRequest>,
  host = '127.0.0.1',
): Promise<Record<K, number>> {
  const resolved = {} as Record<K, number>;
  const used = new Map<number, string>();
  for (const key of Object.keys(requests) as K[]) {
    const { what, flag, port } = requests[key];
    let chosen = port;
    if (chosen === 0) {
      do chosen = await freePort();
      while (used.has(chosen));
    } else if (used.has(chosen)) {
      throw new DevStackError(
        `${flag} ${chosen}: the same port is already given to ${used.get(chosen)}`,
      );
    } else if (await isTaken(chosen, host)) {
      throw new DevStackError(
        `${flag} ${chosen}: port ${chosen} on ${host} is already in use (for the ${what}); stop what uses it or pick another with ${flag}`,
      );
    }
    used.set(chosen, flag);
    resolved[key] = chosen;
  }
  return resolved;
}
