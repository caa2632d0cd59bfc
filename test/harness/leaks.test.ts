import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { describe, expect, it } from 'vitest';

describe('leak check', () => {
  it('sees a listening server and a running child process as active resources', async () => {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)']);
    const active = process.getActiveResourcesInfo();
    expect(active).toContain('TCPServerWrap');
    expect(active).toContain('ProcessWrap');
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
});
