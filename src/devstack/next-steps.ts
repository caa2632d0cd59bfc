import { relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { DevStack } from './dev-stack.ts';

/** The line that tells scripts (and the end-to-end test) the stack is ready. */
export const READY_LINE = 'jobbridge dev is ready';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
/** Files of every checkout: inputs for the fan-out example. */
const EXAMPLE_INPUTS = ['package.json', 'tsconfig.json', 'eslint.config.js', 'vitest.config.ts'];

/**
 * The `jobbridge` command as the user can type it from `cwd`, whatever node is first on PATH:
 * npm runs it on the project's own Node.js (node_modules/.bin).
 */
function cliCommand(cwd: string): string {
  return relative(ROOT, cwd).startsWith('..')
    ? `${ROOT}node_modules/.bin/node ${ROOT}bin/jobbridge.js`
    : 'npx jobbridge';
}

/** `export K=V …` of the env a client command needs (values are host:port and plain names). */
export function exportLine(env: Readonly<Record<string, string>>): string {
  return `export ${Object.entries(env)
    .map(([k, v]) => `${k}=${v}`)
    .join(' ')}`;
}

/** What `jobbridge dev` prints once everything runs: where each part is, and what to run next. */
export function nextSteps(stack: DevStack, jobFile: string, cwd = process.cwd()): string[] {
  const cli = cliCommand(cwd);
  // Tasks run in scratch folders of their own, so the example's inputs are given as absolute paths.
  const inputs = EXAMPLE_INPUTS.map((f) => `${ROOT}${f}`).join(' ');
  return [
    `${READY_LINE} (project ${stack.projectId})`,
    `  Pub/Sub emulator         ${stack.hosts.pubsub}  topic ${stack.topic} → push subscription ${stack.subscription}`,
    `                           dead letters: topic ${stack.deadLetterTopic}, pull subscription ${stack.deadLetterSubscription}, push → bridge /pubsub/dead-letter`,
    `  Firestore emulator       ${stack.hosts.firestore}  collection ${stack.clientEnv.JOBBRIDGE_COLLECTION ?? 'jobs'}`,
    `  Cloud Run Jobs emulator  ${stack.hosts.run}  jobs ${stack.jobs.join(', ')} (${relative(cwd, jobFile) || jobFile})`,
    `                           task logs: ${stack.runLogDir}/{execution}/task-{index}.log (gRPC and HTTP/JSON on this port)`,
    `  bridge                   http://${stack.hosts.bridge}/pubsub/push (push auth off: local only)`,
    `  dashboard                ${stack.uiUrl}/ (jobbridge ui, cancel allowed)`,
    '',
    'In another terminal:',
    `  ${exportLine(stack.clientEnv)}`,
    `  R=$(${cli} publish --job fan-out --function fan-out --tasks 4 -- ${inputs})`,
    `  ${cli} watch "$R"`,
    '',
    'Ctrl-C stops everything.',
  ];
}
