import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import echo, { parseEchoArgs } from '../../functions/echo.ts';
import fanOut from '../../functions/fan-out.ts';
import simulate, { parseSimulateArgs } from '../../functions/simulate.ts';
import { PermanentError } from '../../src/worker/errors.ts';
import { createTestContext } from '../../src/worker/test-context.ts';

let dir: string;
let server: Server;
let base: string;
const sha = (s: string) => createHash('sha256').update(s).digest('hex');

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'fn-'));
  server = createServer((req, res) => {
    if (req.url === '/missing') res.writeHead(404);
    res.end(`served ${req.url}`);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const a = server.address();
  base = `http://127.0.0.1:${typeof a === 'object' && a ? a.port : 0}`;
});
afterAll(async () => {
  await new Promise((r) => server.close(r));
  await rm(dir, { recursive: true, force: true });
});

describe('fan-out', () => {
  it('hashes its shard of files and URLs, reporting progress after each, storing one result per input', async () => {
    const file = join(dir, 'a.txt');
    await writeFile(file, 'alpha');
    const args = [file, `${base}/x`, `${base}/y`, `${base}/z`];
    const t = createTestContext({ args, taskIndex: 0, taskCount: 2 });
    const seen: number[] = [];
    t.events.on('progress', (p) => seen.push(p.done));
    await fanOut(t.context);
    expect(seen).toEqual([0, 1, 2]);
    expect(t.result()).toEqual({
      items: [
        { input: file, sha256: sha('alpha'), bytes: 5 },
        { input: `${base}/y`, sha256: sha('served /y'), bytes: 9 },
      ],
    });
  });

  it('a missing file or a 404 is permanent', async () => {
    await expect(
      fanOut(createTestContext({ args: [join(dir, 'nope')] }).context),
    ).rejects.toBeInstanceOf(PermanentError);
    await expect(
      fanOut(createTestContext({ args: [`${base}/missing`] }).context),
    ).rejects.toBeInstanceOf(PermanentError);
  });

  it('stops when its signal fires', async () => {
    const t = createTestContext({ args: [`${base}/1`, `${base}/2`] });
    t.abort();
    await expect(fanOut(t.context)).rejects.toThrow('terminated');
  });
});

describe('simulate', () => {
  it('reports progress per step and returns its summary', async () => {
    const t = createTestContext({ args: ['--steps', '3', '--step-ms', '1'] });
    await expect(simulate(t.context)).resolves.toEqual({ steps: 3, attempt: 0 });
    expect(t.progress.map((p) => p.done)).toEqual([1, 2, 3]);
  });

  it('fails at a step on early attempts only; permanently when asked', async () => {
    const args = ['--steps', '3', '--step-ms', '1', '--fail-at', '2', '--fail-attempts', '1'];
    await expect(simulate(createTestContext({ args, attempt: 0 }).context)).rejects.toThrow(
      'simulated failure at step 2 of 3 (attempt 0)',
    );
    await expect(simulate(createTestContext({ args, attempt: 1 }).context)).resolves.toEqual({
      steps: 3,
      attempt: 1,
    });
    await expect(
      simulate(createTestContext({ args: [...args, '--permanent'] }).context),
    ).rejects.toBeInstanceOf(PermanentError);
  });

  it('stops at once on cancel', async () => {
    const t = createTestContext({ args: ['--steps', '1000', '--step-ms', '1000'] });
    const run = simulate(t.context);
    t.abort('cancelled');
    await expect(run).rejects.toThrow('cancelled');
  });

  it('bad args are a PermanentError naming the option', () => {
    expect(() => parseSimulateArgs(['--steps', 'x'])).toThrow(
      'simulate: --steps must be a non-negative integer, got x',
    );
    expect(() => parseSimulateArgs(['--duration', '8s'])).toThrow(
      "Unknown option '--duration' (simulate takes --steps N,",
    );
    expect(() => parseSimulateArgs(['--bogus'])).toThrow(PermanentError);
  });
});

describe('echo', () => {
  it('returns what its task saw: args, words, task index and count, attempt, and the ECHO_* values asked for', async () => {
    process.env.ECHO_TEST_COLOR = 'teal';
    try {
      const args = ['--env', 'ECHO_TEST_COLOR', 'hello', '--env', 'ECHO_TEST_UNSET', 'world'];
      const t = createTestContext({ args, taskIndex: 2, taskCount: 5, attempt: 1 });
      await expect(Promise.resolve(echo(t.context))).resolves.toEqual({
        args,
        words: ['hello', 'world'],
        taskIndex: 2,
        taskCount: 5,
        attempt: 1,
        env: { ECHO_TEST_COLOR: 'teal', ECHO_TEST_UNSET: null },
      });
    } finally {
      delete process.env.ECHO_TEST_COLOR;
    }
  });

  it('refuses to show any env name outside ECHO_*, and unknown flags, permanently', () => {
    expect(() => parseEchoArgs(['--env', 'HOME'])).toThrow(PermanentError);
    expect(() => parseEchoArgs(['--env', 'HOME'])).toThrow(/only names starting with ECHO_/);
    expect(() => parseEchoArgs(['--bogus'])).toThrow(/Unknown option '--bogus'/);
  });
});
