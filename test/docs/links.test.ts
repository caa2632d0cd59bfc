import { existsSync, statSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { anchors, linkTargets, markdownFiles, read, ROOT } from './markdown.ts';

/** Each relative link of `file` that does not lead to an existing file (and heading). */
function deadLinks(file: string): string[] {
  const dead: string[] = [];
  for (const target of linkTargets(read(file))) {
    if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue; // https:, mailto: …
    const [path = '', fragment] = target.split('#', 2);
    const resolved = path === '' ? file : normalize(join(dirname(file), decodeURI(path)));
    const abs = join(ROOT, resolved);
    if (relative(ROOT, abs).startsWith('..') || !existsSync(abs)) {
      dead.push(`${target} (no ${resolved})`);
      continue;
    }
    if (fragment !== undefined && statSync(abs).isFile() && resolved.endsWith('.md')) {
      if (!anchors(read(resolved)).has(fragment)) dead.push(`${target} (no heading #${fragment})`);
    }
  }
  return dead;
}

describe('README.md and docs/', () => {
  it('README.md is a front door of at most 250 lines', () => {
    expect(read('README.md').split('\n').length).toBeLessThanOrEqual(250);
  });

  it('README.md links every page of docs/', () => {
    const linked = new Set(
      linkTargets(read('README.md')).map((t) => normalize(t.split('#', 1)[0] ?? '')),
    );
    const pages = markdownFiles().filter((f) => f.startsWith('docs/'));
    expect(pages.length).toBeGreaterThanOrEqual(10);
    expect(pages.filter((p) => !linked.has(p))).toEqual([]);
  });

  it.each(markdownFiles())('%s has no dead relative link', (file) => {
    expect(deadLinks(file)).toEqual([]);
  });

  it('each docs/ page starts with its title and what its reader came for', () => {
    for (const page of markdownFiles().filter((f) => f.startsWith('docs/'))) {
      const [title, blank, firstLine] = read(page).split('\n');
      expect(title, page).toMatch(/^# \S/);
      expect(blank, page).toBe('');
      expect(firstLine, page).toMatch(/^[^#|`\s]/);
    }
  });
});
