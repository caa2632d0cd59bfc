/**
 * `jobbridge/no-type-cycle`: an import cycle that goes through at least one type-only import
 * (`import type`, `export type … from`, or imports whose every specifier is `type`).
 * `import-x/no-cycle` skips those imports, so a cycle with a type-only side passed unseen;
 * cycles of value imports alone are left to it. The linted file's imports come from its AST (so
 * unsaved text is checked as it stands), every other file's from disk.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import type { Rule } from 'eslint';
import ts from 'typescript';

interface Edge {
  file: string;
  typeOnly: boolean;
}

/** Each file's edges as last read, with its mtime: a lint run parses each file once. */
const cache = new Map<string, { mtimeMs: number; edges: Edge[] }>();

function resolveRelative(from: string, specifier: string): string | undefined {
  if (!specifier.startsWith('./') && !specifier.startsWith('../')) return undefined;
  const file = path.resolve(path.dirname(from), specifier);
  return existsSync(file) && statSync(file).isFile() ? file : undefined;
}

/** The static imports and re-exports of a file on disk. */
function edgesOnDisk(file: string): Edge[] {
  const { mtimeMs } = statSync(file);
  const hit = cache.get(file);
  if (hit && hit.mtimeMs === mtimeMs) return hit.edges;
  const source = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest);
  const edges: Edge[] = [];
  for (const stmt of source.statements) {
    let specifier;
    let typeOnly = false;
    if (ts.isImportDeclaration(stmt) && ts.isStringLiteral(stmt.moduleSpecifier)) {
      specifier = stmt.moduleSpecifier.text;
      const clause = stmt.importClause;
      const named = clause?.namedBindings;
      typeOnly =
        clause !== undefined &&
        (clause.isTypeOnly ||
          (clause.name === undefined &&
            named !== undefined &&
            ts.isNamedImports(named) &&
            named.elements.length > 0 &&
            named.elements.every((e) => e.isTypeOnly)));
    } else if (
      ts.isExportDeclaration(stmt) &&
      stmt.moduleSpecifier &&
      ts.isStringLiteral(stmt.moduleSpecifier)
    ) {
      specifier = stmt.moduleSpecifier.text;
      const clause = stmt.exportClause;
      typeOnly =
        stmt.isTypeOnly ||
        (clause !== undefined &&
          ts.isNamedExports(clause) &&
          clause.elements.length > 0 &&
          clause.elements.every((e) => e.isTypeOnly));
    }
    const target = specifier === undefined ? undefined : resolveRelative(file, specifier);
    if (target !== undefined) edges.push({ file: target, typeOnly });
  }
  cache.set(file, { mtimeMs, edges });
  return edges;
}

/** An ImportDeclaration, ExportNamedDeclaration or ExportAllDeclaration, as typescript-eslint parses it. */
interface ModuleNode {
  type: string;
  importKind?: string;
  exportKind?: string;
  source?: { value: unknown } | null;
  specifiers?: { type: string; importKind?: string; exportKind?: string }[];
}

function isTypeOnlyNode(node: ModuleNode): boolean {
  if (node.importKind === 'type' || node.exportKind === 'type') return true;
  const specifiers = node.specifiers ?? [];
  if (node.type === 'ImportDeclaration')
    return (
      specifiers.length > 0 &&
      specifiers.every((s) => s.type === 'ImportSpecifier' && s.importKind === 'type')
    );
  return specifiers.length > 0 && specifiers.every((s) => s.exportKind === 'type');
}

interface Walk {
  file: string;
  files: string[];
  typeOnly: boolean;
}

/**
 * A path of files from `start` back to `goal`, preferring one with a type-only edge (only those
 * are this rule's to report); undefined when none leads back.
 */
function pathBack(start: string, goal: string): { files: string[]; typeOnly: boolean } | undefined {
  const seen = new Set<string>();
  // Depth first; each file is visited at most twice: once reached by value imports alone, once
  // through a type-only one.
  const stack: Walk[] = [{ file: start, files: [start], typeOnly: false }];
  let valueOnly: { files: string[]; typeOnly: boolean } | undefined;
  for (let at = stack.pop(); at !== undefined; at = stack.pop()) {
    const key = `${at.file}|${at.typeOnly}`;
    if (seen.has(key)) continue;
    seen.add(key);
    for (const edge of edgesOnDisk(at.file)) {
      const typeOnly = at.typeOnly || edge.typeOnly;
      if (edge.file === goal) {
        if (typeOnly) return { files: [...at.files, goal], typeOnly };
        valueOnly ??= { files: [...at.files, goal], typeOnly };
        continue;
      }
      if (edge.file.includes(`${path.sep}node_modules${path.sep}`)) continue;
      stack.push({ file: edge.file, files: [...at.files, edge.file], typeOnly });
    }
  }
  return valueOnly;
}

export const noTypeCycle: Rule.RuleModule = {
  meta: {
    type: 'problem',
    docs: { description: 'Forbid import cycles that go through a type-only import.' },
    schema: [],
    messages: {
      cycle:
        'Import cycle through a type-only import: {{cycle}}. Type-only imports count as imports (docs/internals.md, "Layers").',
    },
  },
  create(context) {
    const file = context.physicalFilename;
    const root = context.cwd;
    const check = (estree: Rule.Node) => {
      // typescript-eslint's nodes: estree's, with importKind and exportKind.
      const node = estree as unknown as ModuleNode;
      if (!node.source || typeof node.source.value !== 'string') return;
      const target = resolveRelative(file, node.source.value);
      if (target === undefined || target === file) return;
      const back = pathBack(target, file);
      if (back === undefined) return;
      if (!back.typeOnly && !isTypeOnlyNode(node)) return; // import-x/no-cycle's to report
      const cycle = [file, ...back.files].map((f) => path.relative(root, f)).join(' → ');
      context.report({ node: estree, messageId: 'cycle', data: { cycle } });
    };
    return {
      ImportDeclaration: check,
      ExportNamedDeclaration: check,
      ExportAllDeclaration: check,
    };
  },
};

export default { rules: { 'no-type-cycle': noTypeCycle } };
