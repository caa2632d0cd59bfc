import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ESLint } from 'eslint';
import tseslint from 'typescript-eslint';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/**
 * The repository's own eslint.config.js on text that is never committed: each fixture is linted
 * as if it were the file at `path`. Type-aware rules are off (a fixture is in no tsconfig); the
 * import rules need no types.
 */
async function lintAs(path: string, text: string): Promise<{ ruleId: string; message: string }[]> {
  const eslint = new ESLint({ cwd: ROOT, overrideConfig: [tseslint.configs.disableTypeChecked] });
  const [result] = await eslint.lintText(text, { filePath: `${ROOT}${path}` });
  return (result?.messages ?? []).map((m) => ({ ruleId: m.ruleId ?? '', message: m.message }));
}

const IMPORT_RULES = [
  'import-x/no-restricted-paths',
  'import-x/no-cycle',
  'jobbridge/no-type-cycle',
];
const importErrors = async (path: string, text: string) =>
  (await lintAs(path, text)).filter((m) => IMPORT_RULES.includes(m.ruleId));

describe('npm run lint enforces the layers (eslint.config.js, eslint/layers.ts)', () => {
  it('refuses store importing worker, as a value and as a type alone', async () => {
    for (const text of [
      "import { PermanentError } from '../worker/errors.ts';\nexport const E = PermanentError;\n",
      "import type { JobFunction } from '../worker/function-types.ts';\nexport type F = JobFunction;\n",
    ]) {
      const errors = await importErrors('src/store/layer-fixture.ts', text);
      expect(errors).toHaveLength(1);
      expect(errors[0]).toMatchObject({ ruleId: 'import-x/no-restricted-paths' });
      expect(errors[0]?.message).toContain('store may import only config, errors, contract, log');
    }
  });

  it('refuses bridge importing cli, src importing test/, and bench importing test/', async () => {
    const errors = await importErrors(
      'src/bridge/layer-fixture.ts',
      "import { runServe } from '../cli/serve.ts';\nexport const run = runServe;\n",
    );
    expect(errors.map((e) => e.ruleId)).toEqual(['import-x/no-restricted-paths']);
    expect(errors[0]?.message).toContain('bridge may import only dispatch, reconciler');
    const fromTest = await importErrors(
      'src/dispatch/layer-fixture.ts',
      "import { testProjectId } from '../../test/harness/google.ts';\nexport const p = testProjectId;\n",
    );
    expect(fromTest.map((e) => e.ruleId)).toEqual(['import-x/no-restricted-paths']);
    const benchFromTest = await importErrors(
      'bench/layer-fixture.ts',
      "import { testProjectId } from '../test/harness/google.ts';\nexport const p = testProjectId;\n",
    );
    expect(benchFromTest.map((e) => e.message)).toEqual([
      expect.stringContaining('bench/ may not import test/'),
    ]);
  });

  it('accepts what the table allows: the same fixtures with allowed imports lint clean', async () => {
    expect(
      await importErrors(
        'src/bridge/layer-fixture.ts',
        "import { Drainer } from '../dispatch/index.ts';\nexport const D = Drainer;\n",
      ),
    ).toEqual([]);
    expect(
      await importErrors(
        'src/store/layer-fixture.ts',
        "import type { JobState } from '../contract/index.ts';\nexport type S = JobState;\n",
      ),
    ).toEqual([]);
  });

  it('finds a cycle through a type-only import, which import-x/no-cycle does not see', async () => {
    // server.ts imports server-types.ts (type-only): server-types.ts importing server.ts back,
    // even for types alone, closes a cycle.
    const path = 'src/bridge/server-types.ts';
    const real = readFileSync(`${ROOT}${path}`, 'utf8');
    expect(await importErrors(path, real)).toEqual([]);
    const errors = await importErrors(
      path,
      `${real}\nimport type { BridgeServerDeps } from './server.ts';\nexport type Deps = BridgeServerDeps;\n`,
    );
    expect(errors.map((e) => e.ruleId)).toEqual(['jobbridge/no-type-cycle']);
    expect(errors[0]?.message).toContain(
      'src/bridge/server-types.ts → src/bridge/server.ts → src/bridge/server-types.ts',
    );
  });
});
