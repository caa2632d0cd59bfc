/** Fields of a jobbridge JSON log line that the dev stack's short form leaves out. */
const SKIPPED = new Set([
  'message',
  'msg',
  'severity',
  'level',
  'time',
  'component',
  'pid',
  'hostname',
]);
const MAX_VALUE_CHARS = 80;

const text = (value: unknown): string =>
  typeof value === 'string' ? value : (JSON.stringify(value) ?? '');

function short(value: unknown): string {
  const whole = text(value);
  return whole.length > MAX_VALUE_CHARS ? `${whole.slice(0, MAX_VALUE_CHARS - 1)}…` : whole;
}

/**
 * Renders one line of a part of the stack for a person at a terminal: a JSON log line (the
 * bridge's and the workers' Cloud Logging format) becomes `severity message key=value …`; any
 * other line is kept as it is. `source` is the prefix, e.g. `bridge` or `run 3f2a/0`.
 */
export function formatLogLine(source: string, line: string): string {
  // The Cloud Run Jobs emulator prefixes task output with `[execution/task]`.
  const prefixed = /^\[([^\]]+)\] (.*)$/.exec(line);
  const where = prefixed ? `${source} ${prefixed[1]}` : source;
  const body = prefixed?.[2] ?? line;
  if (body.startsWith('{')) {
    try {
      const entry = JSON.parse(body) as Record<string, unknown>;
      const message = text(entry.message ?? entry.msg ?? '');
      const severity = typeof entry.severity === 'string' ? entry.severity.toLowerCase() : 'info';
      const fields = Object.entries(entry)
        .filter(([key, value]) => !SKIPPED.has(key) && value !== undefined)
        .map(([key, value]) => `${key}=${short(value)}`);
      return `[${where}] ${severity} ${message}${fields.length ? ` ${fields.join(' ')}` : ''}`;
    } catch {
      // not JSON after all: shown as is
    }
  }
  return `[${where}] ${body}`;
}
