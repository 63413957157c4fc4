/**
 * `tsx bench/profile-summary.ts FILE.cpuprofile [FUNCTION]` — where a CPU profile of the service
 * spent its time, by component (self time, idle excluded), and its heaviest functions; with
 * FUNCTION, the call paths that led to it instead.
 */
import { readFileSync } from 'node:fs';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

const COMPONENTS: ReadonlyArray<readonly [string, RegExp]> = [
  ['PGlite (store)', /@electric-sql\/pglite|^wasm:\/\//],
  ['gRPC client (@grpc, protobufjs, @temporalio/client)', /@grpc|protobufjs|@temporalio\/(client|proto)|long\//],
  [
    'Temporal worker (SDK, workflow sandbox)',
    /@temporalio\/(worker|workflow|common|core-bridge|activity)|^evalmachine|workflow-bundle|webpack/,
  ],
  ['undici (outbound HTTP)', /undici/],
  [
    'Express + node:http (API)',
    /express|body-parser|router|raw-body|on-finished|finalhandler|send|type-is|content-type|node:_http|node:http/,
  ],
  ['zod (validation)', /\/zod\//],
  ['pino (logs)', /pino|sonic-boom/],
  ['our code', /\/work\/main\/(src|activities|workflows)\//],
  ['node internals', /^node:/],
];

function componentOf(node: ProfileNode): string {
  const { url, functionName } = node.callFrame;
  if (!url) {
    if (functionName === '(garbage collector)') return 'garbage collector';
    if (functionName === '(idle)') return 'idle';
    if (functionName === '(program)') return 'native (program)';
    return `native: ${functionName || '(anonymous)'}`;
  }
  for (const [name, pattern] of COMPONENTS) if (pattern.test(url)) return name;
  return 'other JS';
}

function frameName(node: ProfileNode): string {
  return `${node.callFrame.functionName || '(anonymous)'} ${node.callFrame.url.replace(/^.*node_modules\//, '')}:${node.callFrame.lineNumber + 1}`;
}

/** The heaviest call paths (up to 14 frames) ending in a function named `name`. */
function callersOf(profile: Profile, name: string): void {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const parent = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
  const paths = new Map<string, number>();
  let total = 0;
  profile.samples.forEach((id, i) => {
    const node = byId.get(id);
    if (node?.callFrame.functionName !== name) return;
    const frames: string[] = [];
    for (let at = parent.get(id); at !== undefined && frames.length < 14; at = parent.get(at))
      frames.push(frameName(byId.get(at) as ProfileNode));
    const key = frames.join('\n      <- ');
    const us = profile.timeDeltas[i] ?? 0;
    total += us;
    paths.set(key, (paths.get(key) ?? 0) + us);
  });
  process.stdout.write(`${name}: ${(total / 1000).toFixed(0)} ms\n`);
  for (const [key, us] of [...paths].sort((a, b) => b[1] - a[1]).slice(0, 5))
    process.stdout.write(`\n${(us / 1000).toFixed(0)} ms  <- ${key}\n`);
}

function main(): void {
  const file = process.argv[2];
  if (!file) throw new Error('usage: tsx bench/profile-summary.ts FILE.cpuprofile');
  const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;
  if (process.argv[3]) {
    callersOf(profile, process.argv[3]);
    return;
  }
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const selfUs = new Map<number, number>();
  profile.samples.forEach((id, i) => selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)));
  const components = new Map<string, number>();
  const functions = new Map<string, number>();
  let total = 0;
  for (const [id, us] of selfUs) {
    const node = byId.get(id);
    if (!node) continue;
    const component = componentOf(node);
    if (component === 'idle') continue;
    total += us;
    components.set(component, (components.get(component) ?? 0) + us);
    const fn = frameName(node);
    functions.set(fn, (functions.get(fn) ?? 0) + us);
  }
  const wall = profile.timeDeltas.reduce((a, b) => a + b, 0);
  process.stdout.write(
    `busy ${(total / 1e6).toFixed(2)} s of ${(wall / 1e6).toFixed(2)} s sampled (${((100 * total) / wall).toFixed(0)}% of one core)\n\n`,
  );
  for (const [name, us] of [...components].sort((a, b) => b[1] - a[1])) {
    process.stdout.write(`${((100 * us) / total).toFixed(1).padStart(5)}%  ${name}\n`);
  }
  process.stdout.write('\nheaviest functions (self time):\n');
  for (const [name, us] of [...functions].sort((a, b) => b[1] - a[1]).slice(0, 25)) {
    process.stdout.write(`${((100 * us) / total).toFixed(1).padStart(5)}%  ${name}\n`);
  }
}

main();
