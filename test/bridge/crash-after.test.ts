import { describe, expect, it } from 'vitest';
import { crashAfter, parseCrashPoints } from './crash-after.ts';

class Port {
  private readonly calls: string[] = [];
  claim(id: string): Promise<string> {
    this.calls.push(id);
    return Promise.resolve(`claimed ${id}`);
  }
  fail(): Promise<never> {
    return Promise.reject(new Error('refused'));
  }
  seen(): string[] {
    return this.calls;
  }
}

describe('crash points wrapped around an injected port (test/bridge/crash-after.ts)', () => {
  it('dies right after the named method resolved, with the call done; other methods pass through', async () => {
    const events: string[] = [];
    const port = crashAfter(new Port(), 'repository', new Set(['repository.claim']), () =>
      events.push('died'),
    );
    expect(port.seen()).toEqual([]);
    await expect(port.claim('a')).resolves.toBe('claimed a');
    expect(events).toEqual(['died']);
    expect(port.seen()).toEqual(['a']);
    await expect(port.fail()).rejects.toThrow('refused');
    expect(events).toEqual(['died']);
  });

  it('a rejected call does not die, and a point of another port leaves this one alone', async () => {
    const events: string[] = [];
    const die = () => events.push('died');
    const failing = crashAfter(new Port(), 'repository', new Set(['repository.fail']), die);
    await expect(failing.fail()).rejects.toThrow('refused');
    const other = crashAfter(new Port(), 'queue', new Set(['repository.claim']), die);
    await other.claim('b');
    expect(events).toEqual([]);
  });

  it('refuses a point that names no method of its port, or no known port', () => {
    const ports = { repository: new Port(), launcher: new Port() };
    expect([...parseCrashPoints('repository.claim, launcher.claim', ports)]).toEqual([
      'repository.claim',
      'launcher.claim',
    ]);
    expect(parseCrashPoints('', ports).size).toBe(0);
    expect(() => parseCrashPoints('repository.clam', ports)).toThrow(
      'repository has no method "clam"',
    );
    expect(() => parseCrashPoints('store.claim', ports)).toThrow(/port among repository, launcher/);
    expect(() => parseCrashPoints('after-claim', ports)).toThrow(/not <port>.<method>/);
  });
});
