/**
 * A reader of Prometheus's text exposition format (version 0.0.4), enough to check what a
 * `/metrics` endpoint says: `# HELP` and `# TYPE` lines, and samples `name{label="value",…} value`
 * with the format's escapes (`\\`, `\"`, `\n`) in label values.
 */

export interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

export interface Exposition {
  readonly samples: readonly Sample[];
  /** Metric family → its type (counter, gauge, histogram, summary, untyped). */
  readonly types: ReadonlyMap<string, string>;
  readonly help: ReadonlyMap<string, string>;
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*/;

function parseValue(text: string): number {
  // Prometheus reads these case-insensitively (prom-client writes `Nan`).
  if (/^\+?inf$/i.test(text)) return Infinity;
  if (/^-inf$/i.test(text)) return -Infinity;
  if (/^nan$/i.test(text)) return NaN;
  const value = Number(text);
  if (text === '' || Number.isNaN(value)) throw new Error(`not a sample value: '${text}'`);
  return value;
}

/** Reads `{a="x",b="y"}` from `line` at `start`; returns the labels and where they end. */
function parseLabels(line: string, start: number): { labels: Record<string, string>; end: number } {
  const labels: Record<string, string> = {};
  let i = start + 1;
  for (;;) {
    while (line[i] === ' ' || line[i] === ',') i += 1;
    if (line[i] === '}') return { labels, end: i + 1 };
    const name = NAME.exec(line.slice(i))?.[0];
    if (!name || line[i + name.length] !== '=' || line[i + name.length + 1] !== '"') {
      throw new Error(`bad label at ${i} in: ${line}`);
    }
    i += name.length + 2;
    let value = '';
    for (; line[i] !== '"'; i += 1) {
      if (i >= line.length) throw new Error(`unterminated label value in: ${line}`);
      if (line[i] === '\\') {
        i += 1;
        value += line[i] === 'n' ? '\n' : line[i];
      } else {
        value += line[i];
      }
    }
    labels[name] = value;
    i += 1;
  }
}

export function parsePrometheusText(text: string): Exposition {
  const samples: Sample[] = [];
  const types = new Map<string, string>();
  const help = new Map<string, string>();
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '') continue;
    if (line.startsWith('#')) {
      const [, keyword, name, ...rest] = line.split(/\s+/);
      if (keyword === 'TYPE' && name) types.set(name, rest[0] ?? 'untyped');
      if (keyword === 'HELP' && name) help.set(name, rest.join(' '));
      continue;
    }
    const name = NAME.exec(line)?.[0];
    if (!name) throw new Error(`not a sample: ${line}`);
    let rest = line.slice(name.length);
    let labels: Record<string, string> = {};
    if (rest.startsWith('{')) {
      const parsed = parseLabels(rest, 0);
      labels = parsed.labels;
      rest = rest.slice(parsed.end);
    }
    const [value] = rest.trim().split(/\s+/);
    samples.push({ name, labels, value: parseValue(value ?? '') });
  }
  return { samples, types, help };
}

/** The samples named `name` whose labels include every one of `labels`. */
export function samplesOf(exposition: Exposition, name: string, labels: Record<string, string> = {}): Sample[] {
  return exposition.samples.filter(
    (sample) => sample.name === name && Object.entries(labels).every(([key, value]) => sample.labels[key] === value),
  );
}

/** The sum of the samples named `name` whose labels include `labels`; 0 when there is none. */
export function valueOf(exposition: Exposition, name: string, labels: Record<string, string> = {}): number {
  return samplesOf(exposition, name, labels).reduce((sum, sample) => sum + sample.value, 0);
}

/** Fetches and parses a `/metrics` endpoint. */
export async function scrape(url: string): Promise<Exposition> {
  const response = await fetch(url);
  if (response.status !== 200) throw new Error(`GET ${url} answered ${response.status}`);
  return parsePrometheusText(await response.text());
}
