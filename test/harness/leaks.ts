import { afterAll } from 'vitest';

/**
 * Fails a test file that leaves a server listening or a child process running after its own
 * afterAll hooks: a leaked emulator or task process would outlive the run.
 */
const LEAKY = new Set(['TCPServerWrap', 'ProcessWrap', 'PipeServerWrap']);

function leaked(): string[] {
  return process.getActiveResourcesInfo().filter((r) => LEAKY.has(r));
}

afterAll(async () => {
  const deadline = Date.now() + 3000;
  while (leaked().length > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  const left = leaked();
  if (left.length > 0) {
    throw new Error(
      `test file left resources behind: ${left.join(', ')} (close servers, kill children)`,
    );
  }
});
