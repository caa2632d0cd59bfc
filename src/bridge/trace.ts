/** Cloud Logging's keys that tie a log line to a trace. */
export const TRACE_KEY = 'logging.googleapis.com/trace';
export const SPAN_KEY = 'logging.googleapis.com/spanId';

const TRACEPARENT = /^[0-9a-f]{2}-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}$/;
const CLOUD_TRACE = /^([0-9a-fA-F]{32})(?:\/(\d+))?/;

/**
 * The trace fields of a log line, from W3C `traceparent` or else Google's
 * `X-Cloud-Trace-Context` (`TRACE/SPAN;o=1`); empty when neither is usable.
 */
export function traceFields(
  projectId: string,
  headers: Readonly<Record<string, string | string[] | undefined>>,
): Record<string, string> {
  const first = (h: string | string[] | undefined): string | undefined =>
    Array.isArray(h) ? h[0] : h;
  const parent = TRACEPARENT.exec(first(headers.traceparent)?.trim().toLowerCase() ?? '');
  if (parent?.[1] && !/^0+$/.test(parent[1])) {
    return {
      [TRACE_KEY]: `projects/${projectId}/traces/${parent[1]}`,
      [SPAN_KEY]: parent[2] ?? '',
    };
  }
  const cloud = CLOUD_TRACE.exec(first(headers['x-cloud-trace-context'])?.trim() ?? '');
  if (cloud?.[1]) {
    const fields: Record<string, string> = {
      [TRACE_KEY]: `projects/${projectId}/traces/${cloud[1].toLowerCase()}`,
    };
    // Cloud Logging wants the span id as 16 hex digits; the header carries it in decimal.
    if (cloud[2]) fields[SPAN_KEY] = BigInt(cloud[2]).toString(16).padStart(16, '0');
    return fields;
  }
  return {};
}
