/**
 * `npm run chaos`: the chaos suite at full size (1,000 requests, `--requests N` to change), then
 * the same load with no faults injected, in the same run, for the wall-time comparison. The bridge
 * and every task run the image's bundle, as Cloud Run starts them; each run may take
 * `--settle-seconds` (600) after its last publish to settle. Prints
 * each run's counts, and as its last line one JSON object with the figures. Exit code 1 if any
 * promise was broken.
 */
import { runChaos, type ChaosReport } from './reliability/chaos-run.ts';
import { numberArg, withGoogleEmulators } from './reliability/google.ts';
import { bundleApp } from './lib/bundle.ts';

const requests = numberArg('requests', 'CHAOS_REQUESTS', 1000);
const rate = numberArg('rate', 'CHAOS_PUBLISH_PER_SECOND', 4);
const settleSeconds = numberArg('settle-seconds', 'CHAOS_SETTLE_SECONDS', 600);
const say = (line: string) => process.stderr.write(`[chaos] ${line}\n`);

function summary(r: ChaosReport): string {
  return [
    `${r.faults ? 'chaos' : 'no faults'}: ${r.requests} requests (${r.duplicates} duplicates, ${r.invalid} invalid, ${r.distinctValid} distinct valid)`,
    `  executions ${r.executions}, bridge restarts ${r.bridgeRestarts}, RunJob faults injected ${r.runJobFaultsInjected}, workers killed ${r.workersKilled}`,
    `  run quota ${r.quotaPerMinute}/min (emulator and bridge pace), most executions started in any 60 s ${r.maxRunJobInAnyMinute}`,
    `  job states ${JSON.stringify(r.terminalStates)}, reconciler actions ${JSON.stringify(r.reconcilerActions)}`,
    `  publish → job finished: p50 ${r.latencyMs.p50} ms, p99 ${r.latencyMs.p99} ms, max ${r.latencyMs.max} ms`,
    `  wall time ${(r.wallMs / 1000).toFixed(1)} s (publishing ${(r.publishMs / 1000).toFixed(1)} s, settling ${((r.wallMs - r.publishMs) / 1000).toFixed(1)} s), problems ${r.problems.length}`,
    ...r.problems.slice(0, 20).map((p) => `  ! ${p}`),
  ].join('\n');
}

const app = bundleApp('bench-chaos-app-');
const [chaos, calm] = await withGoogleEmulators(async (hosts) => {
  const common = {
    cli: app.cli,
    requests,
    pubsubHost: hosts.pubsub,
    firestoreHost: hosts.firestore,
    publishPerSecond: rate,
    settleTimeoutMs: settleSeconds * 1000,
    progress: say,
  };
  say(`chaos run: ${requests} requests at ${rate}/s`);
  const withFaults = await runChaos({ ...common, faults: true, seed: 1 });
  console.log(summary(withFaults));
  say('the same load with no faults');
  const noFaults = await runChaos({ ...common, faults: false, seed: 1 });
  console.log(summary(noFaults));
  return [withFaults, noFaults] as const;
}).finally(() => app.remove());

const figures = {
  requests,
  publishPerSecond: rate,
  chaos: { ...chaos, problems: chaos.problems.length },
  noFaults: { ...calm, problems: calm.problems.length },
  wallTimeRatio: Math.round((chaos.wallMs / calm.wallMs) * 100) / 100,
};
console.log(JSON.stringify(figures));
process.exitCode = chaos.problems.length + calm.problems.length > 0 ? 1 : 0;
