import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import '../harness/leaks.ts';
import { FIXTURES, NODE, recorded, startRig, waitDone, type Rig } from './helpers.ts';

/** The emulator's REST surface as curl reaches it: plain fetch, no Google client. */
describe('HTTP/JSON through plain fetch, as curl sends it', () => {
  let rig: Rig;
  let base: string;
  beforeAll(async () => {
    rig = await startRig({
      jobs: {
        jobs: {
          screenshot: {
            command: [NODE, `${FIXTURES}record-env.ts`],
            args: ['https://example.com'],
            maxRetries: 0,
          },
        },
      },
    });
    base = `http://${rig.emulator.host}`;
  });
  afterAll(async () => rig.close());

  it("the seed article's request (POST …/jobs/screenshot:run) is answered with an Operation whose metadata is the Execution", async () => {
    const url = `${base}/v2/projects/${rig.project}/locations/asia-northeast1/jobs/screenshot:run`;
    const res = await fetch(url, {
      method: 'POST',
      headers: { Authorization: 'Bearer token', 'Content-Type': 'application/json' },
      body: '{"overrides": { "containerOverrides" : [ {"name": "screenshot", "args": ["https://www.pinterest.com", "https://www.apartmenttherapy.com"] } ], "taskCount": 2, "timeout": "300s"}}',
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    const operation = (await res.json()) as {
      name: string;
      done?: boolean;
      metadata: Record<string, unknown>;
    };
    expect(operation.name).toMatch(
      new RegExp(`^projects/${rig.project}/locations/asia-northeast1/operations/[0-9a-f-]{36}$`),
    );
    expect(operation.metadata['@type']).toBe('type.googleapis.com/google.cloud.run.v2.Execution');
    expect(operation.metadata.name).toMatch(
      new RegExp(`/locations/asia-northeast1/jobs/screenshot/executions/screenshot-[a-z0-9]{5}$`),
    );
    // The proto3 JSON mapping: int32 as numbers, Durations and Timestamps as strings.
    expect(operation.metadata.taskCount).toBe(2);
    const template = operation.metadata.template as { timeout: string; containers: unknown[] };
    expect(template.timeout).toBe('300s');
    expect(operation.metadata.createTime).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/);
    const execution = await waitDone(rig, String(operation.metadata.name));
    expect(execution.succeededCount).toBe(2);
    const seen = await recorded(rig, String(operation.metadata.name));
    expect(seen.get('0-0')?.argv).toEqual([
      'https://www.pinterest.com',
      'https://www.apartmenttherapy.com',
    ]);

    const polled = await fetch(`${base}/v2/${operation.name}`);
    const done = (await polled.json()) as { done: boolean; response: Record<string, unknown> };
    expect(done.done).toBe(true);
    expect(done.response['@type']).toBe('type.googleapis.com/google.cloud.run.v2.Execution');
  });

  it('GET a job, with enums as names by default and as numbers for $alt=json;enum-encoding=int', async () => {
    const path = `${base}/v2/projects/${rig.project}/locations/${rig.location}/jobs/screenshot`;
    const named = (await (await fetch(path)).json()) as { terminalCondition: { state: unknown } };
    expect(named.terminalCondition.state).toBe('CONDITION_SUCCEEDED');
    const numeric = (await (await fetch(`${path}?$alt=json%3Benum-encoding%3Dint`)).json()) as {
      terminalCondition: { state: unknown };
    };
    expect(numeric.terminalCondition.state).toBe(4);
  });

  it('errors are google.rpc.Status JSON with the HTTP status of their code', async () => {
    const missing = await fetch(
      `${base}/v2/projects/${rig.project}/locations/${rig.location}/jobs/nope:run`,
      { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' },
    );
    expect(missing.status).toBe(404);
    expect(await missing.json()).toEqual({
      error: {
        code: 404,
        status: 'NOT_FOUND',
        message: expect.stringContaining("Resource 'nope' of kind 'JOB'") as unknown,
        details: [],
      },
    });
    const bad = await fetch(
      `${base}/v2/projects/${rig.project}/locations/${rig.location}/jobs/screenshot:run`,
      { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"overrides":' },
    );
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: { status: string } }).error.status).toBe(
      'INVALID_ARGUMENT',
    );
    const unknownField = await fetch(
      `${base}/v2/projects/${rig.project}/locations/${rig.location}/jobs/screenshot:run`,
      { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"overides":{}}' },
    );
    expect(unknownField.status).toBe(400);
    const nowhere = await fetch(`${base}/v1/namespaces/x/jobs`);
    expect(nowhere.status).toBe(404);
    const wrongVerb = await fetch(
      `${base}/v2/projects/${rig.project}/locations/${rig.location}/jobs/screenshot`,
      { method: 'PUT' },
    );
    expect(wrongVerb.status).toBe(501);
  });

  it('list parameters come from the query string (pageSize, pageToken)', async () => {
    const parent = `projects/${rig.project}/locations/asia-northeast1/jobs/screenshot`;
    await fetch(`${base}/v2/${parent}:run`, { method: 'POST', body: '{}' });
    const page = (await (await fetch(`${base}/v2/${parent}/executions?pageSize=1`)).json()) as {
      executions: unknown[];
      nextPageToken: string;
    };
    expect(page.executions).toHaveLength(1);
    expect(page.nextPageToken).not.toBe('');
    const rest = (await (
      await fetch(`${base}/v2/${parent}/executions?pageSize=5&pageToken=${page.nextPageToken}`)
    ).json()) as { executions: unknown[] };
    expect(rest.executions, JSON.stringify(page.nextPageToken)).toHaveLength(1);
    const [all] = await rig.executions.listExecutions({ parent });
    await Promise.all(all.map((e) => waitDone(rig, e.name ?? '')));
  });
});
