import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cp, mkdtemp, readFile, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nodeVersionRefusal, SUPPORTED_NODE_MAJOR } from '../../src/node-version.ts';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
/** The machine's own node (Debian's), which is older than the supported one here. */
const MACHINE_NODE = process.env.JOBBRIDGE_OLD_NODE ?? '/usr/bin/node';

let out: string;
beforeAll(async () => {
  // The built CLI, as `npm run build` makes it (dist/src/cli.js), beside the repo's packages.
  // Emitted without the type check and the declarations (`npm run typecheck` checks the types):
  // the JavaScript is the same, in half the time.
  out = await mkdtemp(join(tmpdir(), 'node-version-'));
  await run(
    process.execPath,
    [
      join(ROOT, 'node_modules/typescript/bin/tsc'),
      '-p',
      'tsconfig.build.json',
      '--noCheck',
      '--declaration',
      'false',
      '--outDir',
      join(out, 'dist'),
    ],
    { cwd: ROOT },
  );
  await cp(join(ROOT, 'package.json'), join(out, 'package.json'));
  await symlink(join(ROOT, 'node_modules'), join(out, 'node_modules'));
}, 120_000);
afterAll(async () => {
  await rm(out, { recursive: true, force: true });
});

async function machineNode(): Promise<{ version: string; old: boolean }> {
  expect(existsSync(MACHINE_NODE), `${MACHINE_NODE} (the machine's node) is missing`).toBe(true);
  const { stdout } = await run(MACHINE_NODE, ['-p', 'process.versions.node']);
  const version = stdout.trim();
  return { version, old: Number(version.split('.')[0]) < SUPPORTED_NODE_MAJOR };
}

describe('jobbridge on an unsupported Node.js', () => {
  it('the supported version is the one package.json declares', async () => {
    const pkg = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as {
      engines: { node: string };
    };
    expect(pkg.engines.node).toBe(`>=${SUPPORTED_NODE_MAJOR}`);
  });

  it('the refusal names the version found, the version needed and how to get it', () => {
    const line = nodeVersionRefusal('20.20.2');
    expect(line).toContain('Node.js 20.20.2');
    expect(line).toContain(`needs Node.js ${SUPPORTED_NODE_MAJOR} or later`);
    expect(line).toContain('npm ci');
    expect(line).not.toContain('\n');
    expect(nodeVersionRefusal('23.11.0')).toContain('23.11.0');
    expect(nodeVersionRefusal(`${SUPPORTED_NODE_MAJOR}.0.0`)).toBeUndefined();
    expect(nodeVersionRefusal('25.1.0')).toBeUndefined();
  });

  it.each([
    ['dist/src/cli.js', '--help'],
    ['dist/src/cli.js', 'publish', '--job', 'x'],
    ['dist/src/cli.js', 'dev'],
    ['bin/jobbridge.js', '--help'],
    ['bin/jobbridge.js', 'status', 'r'],
  ])(
    'under the machine node, `node %s %s` refuses in one line, non-zero',
    async (entry, ...args) => {
      const node = await machineNode();
      // bin/jobbridge.js from the checkout itself (what `npx jobbridge` runs); dist/ from the build.
      const file = entry.startsWith('bin/') ? join(ROOT, entry) : join(out, entry);
      const result = await run(MACHINE_NODE, [file, ...args], {
        cwd: out,
        env: { PATH: '/usr/bin:/bin' },
      }).then(
        ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
        (err: { code: number; stdout: string; stderr: string }) => err,
      );
      if (node.old) {
        expect(result.code).toBe(1);
        expect(result.stdout).toBe('');
        expect(result.stderr).toBe(`${nodeVersionRefusal(node.version)}\n`);
      } else {
        // A machine whose node is supported runs the command instead.
        expect(result.stderr).not.toContain('needs Node.js');
      }
    },
  );

  it('the same built CLI runs on the supported Node.js', async () => {
    const { stdout } = await run(process.execPath, [join(out, 'dist/src/cli.js'), '--help'], {
      cwd: out,
    });
    expect(stdout).toMatch(/Usage: jobbridge/);
  });
});
