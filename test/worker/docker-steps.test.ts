import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { emulatorHosts, testFirestore, testProjectId } from '../harness/google.ts';
import { createDispatchedJob, readJob, readTask, ROOT, taskEnv } from './helpers.ts';

const run = promisify(execFile);
let out: string;
/** A cgroup v2 folder with a 512 MiB memory.max, as a container would have. */
let cgroup: string;
const projectId = testProjectId('docker');
const db = testFirestore(projectId);

beforeAll(async () => {
  out = await mkdtemp(join(tmpdir(), 'docker-steps-'));
  cgroup = await mkdtemp(join(tmpdir(), 'docker-steps-cgroup-'));
  await writeFile(join(cgroup, 'memory.max'), `${512 * 2 ** 20}\n`);
  await run('sh', [join(ROOT, 'scripts', 'docker-steps.sh'), out], {
    cwd: ROOT,
    maxBuffer: 16 * 2 ** 20,
  });
}, 180_000);
afterAll(async () => {
  await db.terminate();
  await rm(out, { recursive: true, force: true });
  await rm(cgroup, { recursive: true, force: true });
});

describe("the Dockerfile's steps, run without Docker", () => {
  it('the Dockerfile is multi-stage node:24-slim, non-root, ENTRYPOINT the CLI, CMD serve', async () => {
    const dockerfile = await readFile(join(ROOT, 'Dockerfile'), 'utf8');
    expect(dockerfile.match(/^FROM node:24-slim/gm)).toHaveLength(2);
    expect(dockerfile).toMatch(/npm ci --omit=dev/);
    expect(dockerfile).toMatch(/^USER node$/m);
    expect(dockerfile).toMatch(/^ENTRYPOINT \["\/app\/scripts\/docker-entrypoint\.sh"\]$/m);
    expect(dockerfile).toMatch(/^CMD \["serve"\]$/m);
  });

  it('installs production dependencies only', () => {
    expect(existsSync(join(out, 'app', 'node_modules', '@google-cloud', 'firestore'))).toBe(true);
    expect(existsSync(join(out, 'app', 'node_modules', 'vitest'))).toBe(false);
    expect(existsSync(join(out, 'app', 'node_modules', 'typescript'))).toBe(false);
  });

  it('jobbridge --help works from the install', async () => {
    const { stdout } = await run(join(out, 'app', 'scripts', 'docker-entrypoint.sh'), ['--help']);
    expect(stdout).toMatch(/work <function> \[args\.\.\.\]/);
  });

  it('the package entry points resolve from the install (producer, consumer, contract, worker)', async () => {
    const { stdout } = await run(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        `const names = {};
         for (const p of ['producer', 'consumer', 'contract', 'worker'])
           names[p] = Object.keys(await import('jobbridge/' + p)).sort();
         console.log(JSON.stringify(names));`,
      ],
      { cwd: join(out, 'app') },
    );
    const names = JSON.parse(stdout) as Record<string, string[]>;
    expect(names.producer).toEqual(expect.arrayContaining(['publishJob', 'ensureJobTopology']));
    expect(names.consumer).toEqual(expect.arrayContaining(['watchJob', 'waitForJob', 'listJobs']));
    expect(names.contract).toEqual(expect.arrayContaining(['parseJobRequest', 'jobDocumentId']));
    expect(names.worker).toEqual([
      'PermanentError',
      'argsChecks',
      'argsProblem',
      'createTestContext',
    ]);
  });

  it('jobbridge serve from the install refuses a missing config, naming every variable', async () => {
    const failed = await run(join(out, 'app', 'scripts', 'docker-entrypoint.sh'), ['serve'], {
      env: { PATH: process.env.PATH ?? '' },
    }).then(
      () => undefined,
      (err: unknown) => err as { code?: number; stderr?: string },
    );
    expect(failed?.code).toBe(1);
    expect(failed?.stderr).toMatch(/GOOGLE_CLOUD_PROJECT.*JOBBRIDGE_REGION.*JOBBRIDGE_JOBS/s);
  });

  it('jobbridge work runs an example function against the emulators, re-executed under a heap sized from a simulated 512 MiB cgroup', async () => {
    await createDispatchedJob(db, 'docker-job', 1);
    const child = spawn(
      join(out, 'app', 'scripts', 'docker-entrypoint.sh'),
      ['work', 'simulate', '--steps', '2', '--step-ms', '5'],
      {
        env: {
          PATH: process.env.PATH ?? '',
          ...taskEnv({ projectId, firestoreHost: emulatorHosts().firestore, jobId: 'docker-job' }),
          JOBBRIDGE_CGROUP_ROOT: cgroup,
        },
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    let stdout = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    const [code] = (await once(child, 'exit')) as [number | null];
    expect(code).toBe(0);
    const lines = stdout
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    // The entrypoint passes no heap flag: the worker re-executes itself once, sized from the limit.
    expect(
      lines.filter((l) => l.message === 'heap not sized for the container: re-executing'),
    ).toEqual([expect.objectContaining({ containerLimitBytes: 512 * 2 ** 20, resizeToMiB: 384 })]);
    const heap = lines.find((l) => l.message === 'heap limit');
    expect(heap).toMatchObject({
      containerLimitBytes: 512 * 2 ** 20,
      heapFlag: '--max-old-space-size=384',
    });
    expect((await readTask(db, 'docker-job', 0))?.state).toBe('succeeded');
    expect((await readJob(db, 'docker-job')).state).toBe('succeeded');
  });
});
