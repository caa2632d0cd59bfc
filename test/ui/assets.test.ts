import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { assetDir, loadAssets } from '../../src/ui/assets.ts';

const BUILD = join(import.meta.dirname, '..', '..', 'src', 'ui', 'build-assets.ts');

describe("the ui's assets", () => {
  let root: string | undefined;
  afterAll(async () => {
    if (root) await rm(root, { recursive: true, force: true });
  });

  it('are built into dist/ui and found there from the bundle, as the package and image run it', async () => {
    root = await mkdtemp(join(tmpdir(), 'jobbridge-ui-assets-'));
    await writeFile(join(root, 'package.json'), '{"name":"jobbridge"}');
    await mkdir(join(root, 'dist', 'bundle'), { recursive: true });
    await promisify(execFile)(process.execPath, [BUILD, join(root, 'dist', 'ui')]);

    const dir = assetDir(join(root, 'dist', 'bundle'));
    expect(dir).toBe(join(root, 'dist', 'ui'));
    const assets = loadAssets(dir);
    const script = assets.get('app.js')?.body.toString('utf8') ?? '';
    expect(script).toContain('EventSource');
    // Minified: no comment survives.
    expect(script).not.toContain('// ');
    // Bundled: the server's duration format is inside, no import is left for the browser.
    expect(script).toContain(' min ');
    expect(script).not.toMatch(/\bimport\s*[{*]/);
    expect(assets.get('app.css')?.body.toString('utf8')).toContain('progress');
  });

  it('are bundled at start-up when run from source, with what the script imports', () => {
    const script = loadAssets().get('app.js')?.body.toString('utf8') ?? '';
    expect(script).toContain('EventSource');
    expect(script).toContain('function formatDuration(');
    expect(script).not.toMatch(/\bimport\s*[{*]/);
  });

  it('name what is missing when neither the sources nor the build are there', async () => {
    const empty = await mkdtemp(join(tmpdir(), 'jobbridge-ui-none-'));
    try {
      expect(() => assetDir(empty)).toThrow(/the ui's assets are missing.*npm run build/);
    } finally {
      await rm(empty, { recursive: true, force: true });
    }
  });
});
