import { connect } from 'node:net';
import { describe, expect, it } from 'vitest';
import { startRunEmulator } from '../../src/emulator/index.ts';
import { createRunClients } from '../../src/launcher/index.ts';

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

  it('an argument exec cannot take (NUL) fails the attempt to start, and stop still ends', async () => {
    const emulator = await startRunEmulator({
      jobs: { jobs: { echo: { command: ['/bin/echo'], maxRetries: 0 } } },
      log: () => {},
    });
    const run = createRunClients({ emulatorHost: emulator.host, projectId: 'stop-nul' });
    try {
      const [operation] = await run.jobs.runJob({
        name: 'projects/stop-nul/locations/here/jobs/echo',
        overrides: { containerOverrides: [{ args: ['a\u0000b'] }] },
      });
      await expect(operation.promise()).rejects.toThrow(/failed/);
      const name = (operation.metadata as { name?: string }).name ?? '';
      const [execution] = await run.executions.getExecution({ name });
      expect(execution).toMatchObject({ failedCount: 1, runningCount: 0 });
      const completed = execution.conditions?.find((c) => c.type === 'Completed');
      expect(completed?.message).toMatch(/could not start/);
    } finally {
      await run.close();
      const outcome = await Promise.race([
        emulator.stop().then(() => 'stopped'),
        new Promise((resolve) => setTimeout(() => resolve('still stopping after 8 s'), 8000)),
      ]);
      expect(outcome).toBe('stopped');
    }
  });
});
