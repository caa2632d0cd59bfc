import { describe, expect, it } from 'vitest';
import { startBridgeProcess } from '../../src/devstack/bridge-process.ts';
import { freePorts } from '../../src/devstack/google-emulators.ts';
import { emulatorHosts, testProjectId } from '../harness/google.ts';
import { childBridgeEnv } from '../../bench/lib/child-bridge.ts';

describe("the dev stack's bridge process", () => {
  it('is ready with LOG_LEVEL=warn, when its info line "bridge listening" is never printed', async () => {
    const { port, unused } = await freePorts(['port', 'unused']);
    const lines: string[] = [];
    const bridge = await startBridgeProcess({
      port,
      env: childBridgeEnv(
        {
          projectId: testProjectId('bridge-process'),
          region: 'local',
          jobs: 'simulate',
          firestoreHost: emulatorHosts().firestore,
          // Nothing listens there: serving /healthz does not call Cloud Run.
          cloudRunHost: `127.0.0.1:${unused}`,
          port,
        },
        { LOG_LEVEL: 'warn' },
      ),
      onLine: (line) => lines.push(line),
    });
    try {
      const res = await fetch(`${bridge.url}/healthz`);
      expect(res.status).toBe(200);
      expect(lines.some((l) => l.includes('"bridge listening"'))).toBe(false);
    } finally {
      await bridge.stop();
    }
    expect(await bridge.exited).toBeDefined();
  });
});
