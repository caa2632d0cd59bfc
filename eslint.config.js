// @ts-check
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import importX from 'eslint-plugin-import-x';
import { layerZones } from './eslint/layers.ts';
import jobbridge from './eslint/no-type-cycle.ts';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'coverage/**', '.cache/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    plugins: { 'import-x': importX, jobbridge },
    rules: {
      // A forgotten promise in a push handler is a lost job.
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_' },
      ],
      'import-x/no-cycle': 'error',
      'jobbridge/no-type-cycle': 'error',
      // The layers: which part may import which (eslint/layers.ts, docs/internals.md).
      'import-x/no-restricted-paths': layerZones(import.meta.dirname),
    },
  },
  {
    files: ['**/*.js'],
    extends: [tseslint.configs.disableTypeChecked],
  },
  {
    // The dashboard's browser script (src/ui/), an ES module bundled by esbuild (src/ui/assets.ts):
    // the page's globals, nothing of Node's.
    files: ['src/ui/client/**/*.js'],
    languageOptions: {
      sourceType: 'module',
      globals: Object.fromEntries(
        ['window', 'document', 'EventSource', 'HTMLFormElement', 'fetch', 'setInterval'].map(
          (name) => [name, 'readonly'],
        ),
      ),
    },
  },
);
