import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { emulatorHosts } from '../harness/google.ts';
import {
  startInProcessBridge,
  type InProcessBridge,
} from '../../bench/reliability/inprocess-bridge.ts';

/**
 * Found by the fuzz suite: a push whose Content-Type header the framework cannot parse was
 * answered `internal` (500), so Pub/Sub would have redelivered it forever. Any body gets a
 * documented answer; an unreadable one is `rejected:body` (200, acked) like any other bad input.
 */
describe('a push with a malformed Content-Type header', () => {
  let bridge: InProcessBridge;
  beforeAll(async () => {
    bridge = await startInProcessBridge({ firestoreHost: emulatorHosts().firestore });
  });
  afterAll(async () => {
    await bridge?.close();
  });

  for (const contentType of ['', ' ', 'json', 'application/', '/json', 'a b', ';']) {
    it(`Content-Type ${JSON.stringify(contentType)} is not answered internal`, async () => {
      const res = await bridge.push('{"message":{"messageId":"1"}}', {
        'content-type': contentType,
      });
      expect(res).toMatchObject({ status: 200, body: { outcome: 'rejected:body' } });
    });
  }
});
