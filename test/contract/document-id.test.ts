import { describe, expect, it } from 'vitest';
import { HASHED_ID_PREFIX, documentIdProblem, jobDocumentId } from '../../src/contract/index.ts';

describe('job document ids', () => {
  it('keeps a valid request id as it is', () => {
    for (const id of ['export-2026-11-28-acme', 'a', '.a', 'a..b', '__a', 'é'.repeat(750)]) {
      expect(jobDocumentId(id)).toBe(id);
    }
  });

  it.each([
    ['x'.repeat(1501), 'is over 1500 bytes'],
    ['é'.repeat(751), 'is over 1500 bytes'],
    ['a/b', 'contains "/"'],
    ['.', 'is "." or ".."'],
    ['..', 'is "." or ".."'],
    ['__x__', 'matches __.*__ (reserved)'],
    ['____', 'matches __.*__ (reserved)'],
    [`${HASHED_ID_PREFIX}abc`, `starts with ${HASHED_ID_PREFIX} (reserved for hashed ids)`],
  ])('hashes %j (%s)', (id, problem) => {
    expect(documentIdProblem(id)).toBe(problem);
    const docId = jobDocumentId(id);
    expect(docId).toMatch(/^~sha256~[0-9a-f]{64}$/);
    expect(documentIdProblem(docId.slice(HASHED_ID_PREFIX.length))).toBeUndefined();
    expect(jobDocumentId(id)).toBe(docId);
  });

  it('never maps two request ids to one document: a raw id that looks hashed is hashed again', () => {
    const hashed = jobDocumentId('a/b');
    expect(jobDocumentId(hashed)).not.toBe(hashed);
    expect(jobDocumentId('a/b')).not.toBe(jobDocumentId('a/c'));
  });
});
