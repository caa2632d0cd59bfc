/**
 * The tables of docs/ that mirror code, generated from it: the outcomes tables (OUTCOMES and
 * DEAD_LETTER_OUTCOMES), the
 * CLI reference (commander's own help of every command) and the layers (eslint/layers.ts). Each lives between
 * `<!-- generated:NAME -->` and `<!-- /generated:NAME -->` in its page.
 *
 *   node scripts/docs-tables.ts          rewrites the pages (npm run docs:tables)
 *   node scripts/docs-tables.ts --check  exits 1 naming each stale table
 *
 * test/docs/tables.test.ts runs the check, so a change to one side alone fails CI.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { format, resolveConfig } from 'prettier';
import { DEAD_LETTER_OUTCOMES, OUTCOMES, PUBSUB_ACK_STATUSES } from '../src/errors/outcomes.ts';
import { buildProgram } from '../src/cli.ts';
import { MAY_IMPORT, PART_PATHS } from '../eslint/layers.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

/** A generated block: the page it lives in and how to make its text. */
export interface GeneratedBlock {
  name: string;
  page: string;
  render: () => Promise<string>;
}

function cell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

/** The outcomes table: every reason code, its HTTP status, what Pub/Sub does with it. */
export function outcomesTable(): string {
  const rows = Object.entries(OUTCOMES).map(([code, spec]) => {
    const shown = code === 'rejected' ? 'rejected:<field>' : code;
    const pubsub = PUBSUB_ACK_STATUSES.has(spec.status) ? 'ack' : 'retry';
    return `| \`${shown}\` | ${spec.status} | ${pubsub} | ${cell(spec.meaning)} |`;
  });
  return ['| reason code | HTTP | Pub/Sub | meaning |', '| --- | --- | --- | --- |', ...rows].join(
    '\n',
  );
}

/** The dead-letter route's table: every outcome of `POST /pubsub/dead-letter` and its status. */
export function deadLetterTable(): string {
  const rows = Object.entries(DEAD_LETTER_OUTCOMES).map(([code, spec]) => {
    const pubsub = PUBSUB_ACK_STATUSES.has(spec.status) ? 'ack' : 'retry later';
    return `| \`${code}\` | ${spec.status} | ${pubsub} | ${cell(spec.meaning)} |`;
  });
  return [
    '| outcome | HTTP | Pub/Sub | what happened |',
    '| --- | --- | --- | --- |',
    ...rows,
  ].join('\n');
}

/** The CLI reference: `jobbridge --help` and each command's `--help`, as commander prints them. */
export async function cliReference(): Promise<string> {
  const program = await buildProgram();
  program.configureHelp({ helpWidth: 100 });
  const sections = [`### \`jobbridge --help\`\n\n\`\`\`text\n${program.helpInformation()}\`\`\``];
  for (const command of program.commands) {
    command.configureHelp({ helpWidth: 100 });
    // helpInformation() leaves out the text added after the options (the examples).
    let help = '';
    command.configureOutput({ writeOut: (s) => (help += s) });
    command.outputHelp();
    sections.push(`### \`jobbridge ${command.name()}\`\n\n\`\`\`text\n${help.trimEnd()}\n\`\`\``);
  }
  return sections.join('\n\n');
}

/** The layers: what each part may import, as eslint/layers.ts declares and lint enforces. */
export function layersTable(): string {
  const code = (items: readonly string[]) => items.map((i) => `\`${i}\``).join(', ');
  const rows = Object.entries(MAY_IMPORT).map(([part, allowed]) => {
    const where = code(PART_PATHS[part as keyof typeof PART_PATHS]);
    const may = part === 'cli' ? 'every other part' : allowed.length ? allowed.join(', ') : '—';
    return `| ${part} | ${where} | ${may} |`;
  });
  return ['| part | files | may import |', '| --- | --- | --- |', ...rows].join('\n');
}

export const BLOCKS: readonly GeneratedBlock[] = [
  { name: 'outcomes', page: 'docs/operations.md', render: () => Promise.resolve(outcomesTable()) },
  {
    name: 'dead-letter-outcomes',
    page: 'docs/operations.md',
    render: () => Promise.resolve(deadLetterTable()),
  },
  { name: 'cli-reference', page: 'docs/cli.md', render: cliReference },
  { name: 'layers', page: 'docs/internals.md', render: () => Promise.resolve(layersTable()) },
];

const START = (name: string) => `<!-- generated:${name} (node scripts/docs-tables.ts) -->`;
const END = (name: string) => `<!-- /generated:${name} -->`;

/** `text` with the block's content replaced; throws when the page lacks the markers. */
export function replaceBlock(text: string, name: string, content: string): string {
  const start = text.indexOf(START(name));
  const end = text.indexOf(END(name));
  if (start < 0 || end < start) throw new Error(`no ${START(name)} … ${END(name)} markers`);
  return `${text.slice(0, start)}${START(name)}\n\n${content}\n\n${text.slice(end)}`;
}

/** Each block whose page differs from what the code generates, with the page's new text. */
export async function staleBlocks(
  read: (page: string) => string = (page) => readFileSync(`${ROOT}${page}`, 'utf8'),
): Promise<{ block: GeneratedBlock; text: string }[]> {
  const stale = [];
  for (const block of BLOCKS) {
    const current = read(block.page);
    // Formatted as `npm run lint` wants the page (prettier aligns the table's columns).
    const filepath = `${ROOT}${block.page}`;
    const text = await format(replaceBlock(current, block.name, await block.render()), {
      ...(await resolveConfig(filepath)),
      filepath,
    });
    if (text !== current) stale.push({ block, text });
  }
  return stale;
}

if (import.meta.main) {
  const stale = await staleBlocks();
  if (process.argv.includes('--check')) {
    for (const { block } of stale)
      console.error(`${block.page}: ${block.name} is stale: run node scripts/docs-tables.ts`);
    process.exitCode = stale.length > 0 ? 1 : 0;
  } else {
    for (const { block, text } of stale) {
      writeFileSync(`${ROOT}${block.page}`, text);
      console.log(`${block.page}: ${block.name} rewritten`);
    }
  }
}
