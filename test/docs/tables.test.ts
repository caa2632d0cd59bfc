import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DEAD_LETTER_OUTCOMES, OUTCOMES } from '../../src/errors/outcomes.ts';
import { deadLetterTable, outcomesTable, staleBlocks } from '../../scripts/docs-tables.ts';
import { markdownFiles, read, ROOT } from './markdown.ts';

/** Every .ts file under `dir`, recursively. */
function sources(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.ts'))
    .map((f) => join(ROOT, dir, f));
}

/** The `JOBBRIDGE_*` env names the code spells out: string literals and `env.NAME` reads. */
function envNamesInCode(): Set<string> {
  const names = new Set<string>();
  for (const file of [...sources('src'), ...sources('functions')]) {
    for (const m of readFileSync(file, 'utf8').matchAll(
      /(?:['"`]|\benv\.)(JOBBRIDGE_[A-Z0-9_]*[A-Z0-9])\b/g,
    ))
      names.add(m[1] ?? '');
  }
  return names;
}

/** The `JOBBRIDGE_*` names that head a row of a table in docs/. */
function envNamesInDocTables(): Set<string> {
  const names = new Set<string>();
  for (const page of markdownFiles().filter((f) => f.startsWith('docs/'))) {
    for (const m of read(page).matchAll(/^\| ((?:`[A-Z0-9_]+`(?:, )?)+)\s*\|/gm))
      for (const n of (m[1] ?? '').matchAll(/`(JOBBRIDGE_[A-Z0-9_]+)`/g)) names.add(n[1] ?? '');
  }
  return names;
}

describe('the tables of docs/ that mirror code', () => {
  it('the generated tables (outcomes, CLI reference) match the code: run `npm run docs:tables` after changing either', async () => {
    const stale = await staleBlocks();
    expect(stale.map(({ block }) => `${block.page}: ${block.name}`)).toEqual([]);
  });

  it('the outcomes table has a row per OUTCOMES entry with its status', () => {
    const table = outcomesTable();
    for (const [code, spec] of Object.entries(OUTCOMES)) {
      const shown = code === 'rejected' ? 'rejected:<field>' : code;
      expect(table).toContain(`| \`${shown}\` | ${spec.status} |`);
    }
  });

  it('a changed status makes the outcomes table stale', async () => {
    const page = read('docs/operations.md');
    const edited = page.replace(/^(\| `dispatched` +\| )201/m, '$1202');
    expect(edited).not.toBe(page);
    const stale = await staleBlocks((p) => (p === 'docs/operations.md' ? edited : read(p)));
    expect(stale.map(({ block }) => block.name)).toEqual(['outcomes']);
  });

  it('the dead-letter table has a row per DEAD_LETTER_OUTCOMES entry, and a changed status makes it stale', async () => {
    const table = deadLetterTable();
    for (const [code, spec] of Object.entries(DEAD_LETTER_OUTCOMES))
      expect(table).toContain(`| \`${code}\` | ${spec.status} |`);
    const page = read('docs/operations.md');
    const edited = page.replace(/^(\| `already-handled` +\| )200/m, '$1201');
    expect(edited).not.toBe(page);
    const stale = await staleBlocks((p) => (p === 'docs/operations.md' ? edited : read(p)));
    expect(stale.map(({ block }) => block.name)).toEqual(['dead-letter-outcomes']);
  });

  it('every JOBBRIDGE_* variable the code reads or sets has a row in a docs/ table, and every row is one the code knows', () => {
    const code = envNamesInCode();
    const docs = envNamesInDocTables();
    expect(code.size).toBeGreaterThan(20);
    expect([...code].filter((n) => !docs.has(n)).sort(), 'in code, missing from docs/').toEqual([]);
    expect([...docs].filter((n) => !code.has(n)).sort(), 'in docs/, unknown to code').toEqual([]);
  });
});
