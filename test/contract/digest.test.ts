import { describe, expect, it } from 'vitest';
import { DIGEST_PREFIX, requestDigest, type JobRequest } from '../../src/contract/index.ts';

const base: JobRequest = { schemaVersion: 1, job: 'fan-out', function: 'fan-out', args: ['a'] };

describe('request digest', () => {
  it('is stable over key order and ignores the request id (it is the key, not the content)', () => {
    const a = requestDigest({ ...base, env: { A: '1', B: '2' }, labels: { x: 'y', a: 'b' } });
    const b = requestDigest({
      labels: { a: 'b', x: 'y' },
      env: { B: '2', A: '1' },
      args: ['a'],
      function: 'fan-out',
      job: 'fan-out',
      schemaVersion: 1,
      requestId: 'any-id',
    });
    expect(a).toBe(b);
    expect(a.startsWith(DIGEST_PREFIX)).toBe(true);
    expect(a).toMatch(/^v1:sha256:[0-9a-f]{64}$/);
  });

  it('changes with every field that changes what runs', () => {
    const variants: JobRequest[] = [
      base,
      { ...base, args: ['b'] },
      { ...base, args: ['a', ''] },
      { ...base, args: [] },
      { ...base, function: undefined, args: [] },
      { ...base, function: undefined, args: undefined },
      { ...base, function: 'other' },
      { ...base, function: undefined },
      { ...base, job: 'simulate' },
      { ...base, env: { A: '1' } },
      { ...base, env: { A: '2' } },
      { ...base, env: { B: '1' } },
      { ...base, taskCount: 2 },
      { ...base, timeoutSeconds: 60 },
      { ...base, labels: { t: 'a' } },
      { ...base, concurrencyKey: 'k' },
    ];
    const digests = new Set(variants.map(requestDigest));
    expect(digests.size).toBe(variants.length);
  });

  it('cannot be confused by an arg that looks like two', () => {
    expect(requestDigest({ ...base, args: ['a","b'] })).not.toBe(
      requestDigest({ ...base, args: ['a', 'b'] }),
    );
  });

  it('gives one digest to forms that run the same (what a document keeps can be checked)', () => {
    expect(requestDigest({ ...base, args: [] })).toBe(requestDigest({ ...base, args: undefined }));
    expect(requestDigest({ ...base, env: {}, labels: {} })).toBe(requestDigest(base));
  });
});
