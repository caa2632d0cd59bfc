import { describe, expect, it } from 'vitest';
import { formatLogLine } from '../../src/devstack/log-format.ts';
import { exportLine } from '../../src/devstack/next-steps.ts';

describe('formatLogLine', () => {
  it('shortens a Cloud Logging JSON line to severity, message and fields', () => {
    const line = JSON.stringify({
      severity: 'WARNING',
      time: '2026-01-01T00:00:00.000Z',
      component: 'bridge',
      message: 'push delivery',
      requestId: 'r-1',
      firestore: { reads: 0, writes: 2 },
    });
    expect(formatLogLine('bridge', line)).toBe(
      '[bridge] warning push delivery requestId=r-1 firestore={"reads":0,"writes":2}',
    );
  });

  it("keeps the emulator's task prefix and cuts long field values", () => {
    const line = `[fan-out-x1/3] ${JSON.stringify({ severity: 'INFO', message: 'done', blob: 'a'.repeat(200) })}`;
    expect(formatLogLine('run', line)).toBe(`[run fan-out-x1/3] info done blob=${'a'.repeat(79)}…`);
  });

  it('passes other lines through with the prefix', () => {
    expect(formatLogLine('bridge', '(node:1) Warning: {not json')).toBe(
      '[bridge] (node:1) Warning: {not json',
    );
  });
});

describe('exportLine', () => {
  it('is a line a shell can eval', () => {
    expect(exportLine({ A: '1', B: '127.0.0.1:8085' })).toBe('export A=1 B=127.0.0.1:8085');
  });
});
