/**
 * `npm run build` step: bundles and minifies the page's script and stylesheet (src/ui/client/) into dist/ui/,
 * which the package and the image ship and `jobbridge ui` serves. Usage: node src/ui/build-assets.ts [OUT_DIR]
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { build } from 'esbuild';
import { CLIENT_BUILD } from './assets.ts';

const root = join(import.meta.dirname, '..', '..');
const outDir = process.argv[2] ?? join(root, 'dist', 'ui');
mkdirSync(outDir, { recursive: true });
for (const name of ['app.js', 'app.css']) {
  await build({
    ...CLIENT_BUILD,
    entryPoints: [join(import.meta.dirname, 'client', name)],
    outfile: join(outDir, name),
    minify: true,
  });
}
