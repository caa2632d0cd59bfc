/**
 * `npm run fuzz`: the fuzz suite at full size: 20,000 generated pushes (`--pushes N`) and a tenth
 * as many forged Authorization headers, against the in-process bridge on the real emulators.
 * Last line: one JSON object with the figures.
 */
import { runFuzz } from './reliability/fuzz-run.ts';
import { numberArg, withGoogleEmulators } from './reliability/google.ts';

const pushes = numberArg('pushes', 'FUZZ_PUSHES', 20_000);
const report = await withGoogleEmulators((hosts) =>
  runFuzz({
    firestoreHost: hosts.firestore,
    pushes,
    authPushes: Math.round(pushes / 10),
    progress: (line) => process.stderr.write(`[fuzz] ${line}\n`),
  }),
);
console.log(
  `fuzz: ${report.pushes} pushes + ${report.authPushes} forged tokens in ${(report.wallMs / 1000).toFixed(1)} s; ` +
    `${report.dispatched} dispatched, ${report.executions} executions, ${report.unhandledRejections} unhandled rejections, ${report.problems.length} problems`,
);
for (const p of report.problems.slice(0, 10)) console.log(`  ! ${p.slice(0, 500)}`);
console.log(JSON.stringify({ ...report, problems: report.problems.length }));
process.exitCode = report.problems.length > 0 ? 1 : 0;
