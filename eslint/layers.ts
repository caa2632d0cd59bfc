/**
 * The layers of the design ("Dependencies point one way"; shown in docs/internals.md, "Layers")
 * as `import-x/no-restricted-paths` zones: each part lists the parts it may import, and every
 * other part of ours is refused to it, type-only imports included. Because the table is a
 * one-way order, no two parts can import each other: there is no folder cycle to find. File
 * cycles are `import-x/no-cycle`'s (value imports) and `jobbridge/no-type-cycle`'s (cycles
 * through a type-only import).
 */
import type { Linter } from 'eslint';

/** What a part is on disk, relative to the repository. */
export const PART_PATHS = {
  // The CLI layer creates the Google clients (google-clients.ts) and checks Node's version.
  cli: ['src/cli', 'src/cli.ts', 'src/google-clients.ts', 'src/node-version.ts'],
  devstack: ['src/devstack'],
  ui: ['src/ui'],
  bridge: ['src/bridge'],
  reconciler: ['src/reconciler'],
  dispatch: ['src/dispatch'],
  worker: ['src/worker'],
  producer: ['src/producer'],
  consumer: ['src/consumer'],
  store: ['src/store'],
  launcher: ['src/launcher'],
  cost: ['src/cost'],
  emulator: ['src/emulator'],
  functions: ['functions'],
  contract: ['src/contract'],
  errors: ['src/errors'],
  config: ['src/config'],
  log: ['src/log.ts'],
} as const satisfies Record<string, readonly string[]>;

export type Part = keyof typeof PART_PATHS;

/** What every part but the emulator may import besides its own row. */
const SHARED: Part[] = ['config', 'errors', 'contract', 'log'];

/** The design's table: part → the parts it may import. */
export const MAY_IMPORT: Record<Part, readonly Part[]> = {
  cli: (Object.keys(PART_PATHS) as Part[]).filter((p) => p !== 'cli'),
  devstack: ['bridge', 'emulator', 'ui', ...SHARED],
  ui: ['consumer', ...SHARED],
  bridge: ['dispatch', 'reconciler', ...SHARED],
  reconciler: ['dispatch', 'store', 'launcher', ...SHARED],
  dispatch: ['store', 'launcher', ...SHARED],
  worker: ['store', ...SHARED],
  producer: SHARED,
  consumer: ['store', ...SHARED],
  store: SHARED,
  launcher: SHARED,
  cost: SHARED,
  functions: ['worker', ...SHARED],
  // It speaks Cloud Run's API and knows nothing of jobbridge.
  emulator: ['errors'],
  // The shared parts, pure or nearly: one way among themselves too.
  contract: ['errors'],
  errors: [],
  config: ['contract', 'errors'],
  log: [],
};

/** Folders of the repository that `src/` and `functions/` never import. */
const OUTSIDE = ['test', 'bench', 'scripts'];

interface Zone {
  target: string[];
  from: string[];
  message: string;
}

/** The zones of `import-x/no-restricted-paths`, paths relative to `root`. */
export function layerZones(root: string): Linter.RuleEntry {
  const zones: Zone[] = [];
  for (const [part, allowed] of Object.entries(MAY_IMPORT) as [Part, readonly Part[]][]) {
    const refused = (Object.keys(PART_PATHS) as Part[]).filter(
      (p) => p !== part && !allowed.includes(p),
    );
    const may = allowed.length > 0 ? allowed.join(', ') : 'nothing of ours';
    zones.push({
      target: [...PART_PATHS[part]],
      from: [...refused.flatMap((p) => PART_PATHS[p]), ...OUTSIDE],
      message: `${part} may import only ${may} (docs/internals.md, "Layers").`,
    });
  }
  // The benches share rigs with the tests through bench/lib and bench/reliability, which the
  // tests import; nothing under bench/ reaches into test/.
  zones.push({
    target: ['bench'],
    from: ['test'],
    message:
      'bench/ may not import test/: share the helper from bench/lib (the tests import it there).',
  });
  return ['error', { zones, basePath: root }];
}
