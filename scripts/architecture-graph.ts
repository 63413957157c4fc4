/**
 * `npm run docs:architecture`: draws the dependency pictures in docs/architecture.md from the code
 * (dependency-cruiser, as Mermaid), between the `<!-- graph:NAME -->` and `<!-- /graph:NAME -->`
 * markers. With `--check` it writes nothing and fails when the document is out of date
 * (`npm run lint` runs it so).
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

const ROOT = path.join(__dirname, '..');
const DOC = path.join(ROOT, 'docs', 'architecture.md');
const PRODUCTION = ['core', 'devtools', 'activities', 'workflows', 'src'];

/** Each picture: the box a module is drawn in (a prefix of its path). */
const GRAPHS: Record<string, RegExp> = {
  // One box per top-level folder.
  folders: /^[^/]+\//,
  // The top-level folders, and the files and folders directly under src/.
  service: /^(core|devtools|activities|workflows)\/|^src\/[^/]+\/?/,
};

interface CruiseResult {
  modules: Array<{ source: string; dependencies: Array<{ resolved: string; dependencyTypes: string[] }> }>;
}

/** Every import between two production modules, from dependency-cruiser. */
function imports(): Array<{ from: string; to: string; typeOnly: boolean }> {
  const bin = path.join(ROOT, 'node_modules', '.bin', 'depcruise');
  const json = execFileSync(
    bin,
    [
      ...PRODUCTION,
      '--config',
      '.dependency-cruiser.cjs',
      '--include-only',
      `^(${PRODUCTION.join('|')})/`,
      '--output-type',
      'json',
    ],
    { cwd: ROOT, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 },
  );
  const { modules } = JSON.parse(json) as CruiseResult;
  return modules.flatMap((module) =>
    module.dependencies.map((dependency) => ({
      from: module.source,
      to: dependency.resolved,
      typeOnly: dependency.dependencyTypes.includes('type-only'),
    })),
  );
}

/** Mermaid node id and label of a box: `src/store/` → `src_store_["src/store/"]`. */
const node = (name: string): string => `${name.replace(/[^A-Za-z0-9]/g, '_')}["${name}"]`;

/**
 * A top-down flowchart: one arrow per pair of boxes with an import between them, dotted when
 * every such import is of types only.
 */
function mermaid(box: RegExp, edges: ReturnType<typeof imports>): string {
  const boxOf = (file: string): string => box.exec(file)?.[0] ?? file;
  const typeOnlyByEdge = new Map<string, boolean>();
  for (const edge of edges) {
    const from = boxOf(edge.from);
    const to = boxOf(edge.to);
    if (from === to) continue;
    const key = `${from}\0${to}`;
    typeOnlyByEdge.set(key, (typeOnlyByEdge.get(key) ?? true) && edge.typeOnly);
  }
  const lines = [...typeOnlyByEdge]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([key, typeOnly]) => {
      const [from = '', to = ''] = key.split('\0');
      return `  ${node(from)} ${typeOnly ? '-. types .->' : '-->'} ${node(to)}`;
    });
  return ['flowchart TD', ...lines].join('\n');
}

function render(doc: string): string {
  const edges = imports();
  let out = doc;
  for (const [name, box] of Object.entries(GRAPHS)) {
    const start = `<!-- graph:${name} -->`;
    const end = `<!-- /graph:${name} -->`;
    const from = out.indexOf(start);
    const to = out.indexOf(end);
    if (from < 0 || to < from) throw new Error(`docs/architecture.md lacks the ${start} … ${end} markers`);
    out = `${out.slice(0, from + start.length)}\n\n\`\`\`mermaid\n${mermaid(box, edges)}\n\`\`\`\n\n${out.slice(to)}`;
  }
  return out;
}

const current = readFileSync(DOC, 'utf8');
const next = render(current);
if (process.argv.includes('--check')) {
  if (next !== current) {
    process.stderr.write('docs/architecture.md is out of date: run `npm run docs:architecture`\n');
    process.exitCode = 1;
  }
} else if (next !== current) {
  writeFileSync(DOC, next);
  process.stdout.write('docs/architecture.md updated\n');
}
