/**
 * Cloud Run Jobs emulator benchmark (`npm run bench:emulator`).
 *
 * 1. Latency: RunJob (real JobsClient, emulator in-process) → first output line of the task,
 *    over gRPC and over HTTP/JSON (the same client with `fallback: true`), next to spawning the
 *    same command directly with child_process, alternating the three, in one run.
 * 2. Load: 200 executions of a trivial task in flight at once against `jobbridge emulator` run as
 *    a child process; all must succeed; the emulator process's RSS is sampled from /proc.
 * Last line: one JSON object with the figures.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { JobsClient } from '@google-cloud/run';
import { OAuth2Client } from 'google-auth-library';
import { startRunEmulator } from '../src/emulator/index.ts';
import { createRunClients } from '../src/launcher/index.ts';

const RUNS = Number(process.env.BENCH_RUNS ?? 50);
const IN_FLIGHT = Number(process.env.BENCH_IN_FLIGHT ?? 200);
const COMMAND = ['/bin/echo', 'started'];

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? NaN;
}
const round = (n: number): number => Math.round(n * 100) / 100;

/** Time from spawn() to the child's first stdout bytes. */
function directOnce(): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(COMMAND[0] ?? '', COMMAND.slice(1), {
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    child.stdout.once('data', () => resolve(performance.now() - t0));
    child.once('error', reject);
  });
}

async function latency(): Promise<{ direct: number[]; emulator: number[]; http: number[] }> {
  let onLine: ((line: string) => void) | undefined;
  const emulator = await startRunEmulator({
    jobs: { jobs: { echo: { command: COMMAND, maxRetries: 0 } } },
    log: (line) => onLine?.(line),
  });
  const clients = createRunClients({ emulatorHost: emulator.host });
  // The same client in HTTP/JSON mode, as where gRPC cannot run; the token is not checked.
  const authClient = new OAuth2Client();
  authClient.setCredentials({ access_token: 'bench', expiry_date: Date.now() + 86_400_000 });
  const httpJobs = new JobsClient({
    apiEndpoint: '127.0.0.1',
    port: emulator.port,
    fallback: true,
    protocol: 'http',
    authClient,
    projectId: 'bench',
    universeDomain: 'googleapis.com',
  });
  const name = 'projects/bench/locations/local/jobs/echo';
  const direct: number[] = [];
  const viaEmulator: number[] = [];
  const viaHttp: number[] = [];
  const once = (client: JobsClient): Promise<number> =>
    new Promise<number>((resolve, reject) => {
      const t0 = performance.now();
      onLine = (line) => {
        if (line.endsWith('] started')) resolve(performance.now() - t0);
      };
      client.runJob({ name }).catch(reject);
    });
  try {
    // Warm every path (channel and connection set-up, first spawn) before measuring.
    for (let i = 0; i < 3; i++) await directOnce();
    for (let i = 0; i < RUNS + 3; i++) {
      const ms = await once(clients.jobs);
      const httpMs = await once(httpJobs);
      const d = await directOnce();
      if (i >= 3) {
        viaEmulator.push(ms);
        viaHttp.push(httpMs);
        direct.push(d);
      }
    }
  } finally {
    await clients.close();
    await httpJobs.close();
    await emulator.stop();
  }
  return { direct, emulator: viaEmulator, http: viaHttp };
}

function rssKiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m?.[1] ?? 0);
}

async function load(): Promise<{
  ok: number;
  failed: number;
  peakRssMiB: number;
  idleRssMiB: number;
  seconds: number;
}> {
  const dir = await mkdtemp(join(tmpdir(), 'bench-emulator-'));
  const jobsFile = join(dir, 'jobs.json');
  await writeFile(
    jobsFile,
    JSON.stringify({ jobs: { trivial: { command: ['/bin/sh', '-c', 'sleep 1'], maxRetries: 0 } } }),
  );
  const cli = fileURLToPath(new URL('../src/cli.ts', import.meta.url));
  const child = spawn(process.execPath, [cli, 'emulator', '--port', '0', '--jobs', jobsFile], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const host = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const m = /listening on (\S+)/.exec(out);
      if (m?.[1]) resolve(m[1]);
    });
    child.once('exit', () => reject(new Error(`emulator exited early: ${out}`)));
  });
  child.stdout.resume();
  const pid = child.pid ?? 0;
  const idle = rssKiB(pid);
  let peak = idle;
  const sampler = setInterval(() => (peak = Math.max(peak, rssKiB(pid))), 50);
  const clients = createRunClients({ emulatorHost: host });
  const t0 = performance.now();
  let ok = 0;
  let failed = 0;
  try {
    const operations = await Promise.all(
      Array.from(
        { length: IN_FLIGHT },
        async () =>
          (await clients.jobs.runJob({ name: 'projects/bench/locations/local/jobs/trivial' }))[0],
      ),
    );
    const results = await Promise.allSettled(operations.map((op) => op.promise()));
    for (const r of results) {
      if (r.status === 'fulfilled' && r.value[0].succeededCount === 1) ok++;
      else failed++;
    }
  } finally {
    clearInterval(sampler);
    await clients.close();
    child.kill('SIGTERM');
    await exited;
    await rm(dir, { recursive: true, force: true });
  }
  return {
    ok,
    failed,
    peakRssMiB: round(peak / 1024),
    idleRssMiB: round(idle / 1024),
    seconds: round((performance.now() - t0) / 1000),
  };
}

const lat = await latency();
const directP50 = percentile(lat.direct, 50);
const directP99 = percentile(lat.direct, 99);
const emulatorP50 = percentile(lat.emulator, 50);
const emulatorP99 = percentile(lat.emulator, 99);
const httpP50 = percentile(lat.http, 50);
const httpP99 = percentile(lat.http, 99);
console.log(
  `RunJob → first task output, ${RUNS} runs (emulator in-process, command ${COMMAND.join(' ')})`,
);
console.log(`  direct spawn   p50 ${directP50.toFixed(2)} ms   p99 ${directP99.toFixed(2)} ms`);
console.log(
  `  via emulator   p50 ${emulatorP50.toFixed(2)} ms   p99 ${emulatorP99.toFixed(2)} ms   (gRPC)`,
);
console.log(
  `  via emulator   p50 ${httpP50.toFixed(2)} ms   p99 ${httpP99.toFixed(2)} ms   (HTTP/JSON)`,
);
const targetP50 = 1.5 * directP50 + 10;
console.log(
  `  target p50 ≤ 1.5 × direct + 10 ms = ${targetP50.toFixed(2)} ms: ${emulatorP50 <= targetP50 ? 'met' : 'MISSED'}`,
);
const targetP99 = 1.5 * directP99 + 10;
console.log(
  `  target p99 ≤ 1.5 × direct + 10 ms = ${targetP99.toFixed(2)} ms: ${emulatorP99 <= targetP99 ? 'met' : 'MISSED'}`,
);
const loaded = await load();
console.log(
  `${IN_FLIGHT} executions in flight (emulator as a child process): ${loaded.ok} succeeded, ${loaded.failed} failed in ${loaded.seconds} s`,
);
console.log(`  emulator RSS idle ${loaded.idleRssMiB} MiB, peak ${loaded.peakRssMiB} MiB`);
console.log(
  JSON.stringify({
    runs: RUNS,
    directP50Ms: round(directP50),
    directP99Ms: round(directP99),
    emulatorP50Ms: round(emulatorP50),
    emulatorP99Ms: round(emulatorP99),
    ratioP50: round(emulatorP50 / directP50),
    httpP50Ms: round(httpP50),
    httpP99Ms: round(httpP99),
    httpOverGrpcP50: round(httpP50 / emulatorP50),
    httpTargetMet: httpP50 <= targetP50,
    targetP50Ms: round(targetP50),
    targetMet: emulatorP50 <= targetP50,
    targetP99Ms: round(1.5 * directP99 + 10),
    targetP99Met: emulatorP99 <= 1.5 * directP99 + 10,
    inFlight: IN_FLIGHT,
    inFlightSucceeded: loaded.ok,
    inFlightFailed: loaded.failed,
    inFlightSeconds: loaded.seconds,
    emulatorRssIdleMiB: loaded.idleRssMiB,
    emulatorRssPeakMiB: loaded.peakRssMiB,
    emulatorMode: { latency: 'in-process', load: 'child process (jobbridge emulator)' },
  }),
);
