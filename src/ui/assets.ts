import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BuildOptions, buildSync } from 'esbuild';

/** A static file of the page, held in memory. */
export interface Asset {
  body: Buffer;
  type: string;
  etag: string;
}

export const ASSET_FILES = { 'app.js': 'text/javascript', 'app.css': 'text/css' } as const;
export type AssetName = keyof typeof ASSET_FILES;

/**
 * Where the page's script and stylesheet are. Run from source (`node src/cli.ts ui`), next to this
 * module in `client/`; from the build (the package, the image), in `dist/ui/`, which
 * `npm run build` writes from those sources. Nothing is ever fetched from the network.
 */
export function assetDir(moduleDir = dirname(fileURLToPath(import.meta.url))): string {
  const source = join(moduleDir, 'client');
  if (existsSync(join(source, 'app.js'))) return source;
  for (let dir = moduleDir; ; dir = dirname(dir)) {
    const built = join(dir, 'dist', 'ui');
    if (existsSync(join(dir, 'package.json')) && existsSync(join(built, 'app.js'))) return built;
    if (dirname(dir) === dir) break;
  }
  throw new Error(
    `the ui's assets are missing: neither ${source} nor dist/ui/ exists (run npm run build)`,
  );
}

/**
 * How esbuild turns `client/<name>` into what the browser gets: the script bundled with what it
 * imports from the server's modules (`format.ts`), so a formatting rule has one home. The build
 * (`build-assets.ts`) writes it into dist/ui/, minified.
 */
export const CLIENT_BUILD: BuildOptions = {
  bundle: true,
  format: 'iife',
  target: ['chrome120', 'firefox120', 'safari17'],
  logLevel: 'warning',
  legalComments: 'none',
};

/**
 * The asset `name` of `dir`. The built ones (dist/ui/) are read as they are; the sources
 * (`client/`) are bundled here, at start-up, with esbuild: a development dependency that every
 * checkout has, loaded only then, so neither the package nor the image needs it.
 */
function readAsset(dir: string, name: AssetName): Buffer {
  const file = join(dir, name);
  if (dir !== join(import.meta.dirname, 'client')) return readFileSync(file);
  const esbuild = createRequire(import.meta.url)('esbuild') as { buildSync: typeof buildSync };
  const built = esbuild.buildSync({ ...CLIENT_BUILD, entryPoints: [file], write: false });
  const out = built.outputFiles?.[0];
  if (!out) throw new Error(`esbuild wrote nothing for ${file}`);
  return Buffer.from(out.contents);
}

/** Reads every asset once, at start-up: a missing one fails the start, not a page view. */
export function loadAssets(dir = assetDir()): Map<AssetName, Asset> {
  const assets = new Map<AssetName, Asset>();
  for (const [name, type] of Object.entries(ASSET_FILES) as [AssetName, string][]) {
    const body = readAsset(dir, name);
    const etag = `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"`;
    assets.set(name, { body, type: `${type}; charset=utf-8`, etag });
  }
  return assets;
}
