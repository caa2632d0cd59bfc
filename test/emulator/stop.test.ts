import { connect } from 'node:net';
import { describe, expect, it } from 'vitest';
import { startRunEmulator } from '../../src/emulator/index.ts';

describe('stopping the emulator', () => {
  it('does not wait for a connection that never became a gRPC session', async () => {
    const emulator = await startRunEmulator({
      jobs: { jobs: { idle: { command: ['/bin/true'] } } },
      log: () => {},
    });
    // A raw TCP connection that sends nothing: the listener cannot close while it is open.
    const socket = connect(emulator.port, '127.0.0.1');
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    const outcome = await Promise.race([
      emulator.stop().then(() => 'stopped'),
      new Promise((resolve) => setTimeout(() => resolve('still stopping after 8 s'), 8000)),
    ]);
    socket.destroy();
    await closed;
    expect(outcome).toBe('stopped');
  });
});
