import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const ROOT = join(import.meta.dirname, '..', '..');

/** The image's layout in a temporary folder: what the Dockerfile builds, for bench runs. */
export interface BundledApp {
  /** The folder: scripts/docker-entrypoint.sh, dist/bundle/, node_modules (linked). */
  dir: string;
  /** `dist/bundle/jobbridge.mjs`: the CLI as the image's entrypoint runs it. */
  cli: string;
  /** `scripts/docker-entrypoint.sh`. */
  entrypoint: string;
  remove(): void;
}

/**
 * Builds the esbuild bundle (scripts/docker-bundle.sh) into a temporary copy of the image's
 * layout, node_modules linked (the emulator command reads protos there; `work` needs none).
 */
export function bundleApp(prefix = 'bench-app-'): BundledApp {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  mkdirSync(join(dir, 'scripts'));
  copyFileSync(
    join(ROOT, 'scripts', 'docker-entrypoint.sh'),
    join(dir, 'scripts', 'docker-entrypoint.sh'),
  );
  symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'));
  execFileSync('sh', [join(ROOT, 'scripts', 'docker-bundle.sh'), join(dir, 'dist', 'bundle')]);
  return {
    dir,
    cli: join(dir, 'dist', 'bundle', 'jobbridge.mjs'),
    entrypoint: join(dir, 'scripts', 'docker-entrypoint.sh'),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}
