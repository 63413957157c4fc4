import { setTimeout as delay } from 'node:timers/promises';
import { FirstAttemptWindow } from '../../src/temporal/first-attempt-window';

/** A window over a scripted store: `attempted` holds the ids whose first attempt is "recorded". */
function windowOf(limit: number, maxWaitMs = 60_000, perTargetLimit = limit) {
  const attempted = new Set<string>();
  const lookups: string[][] = [];
  const window = new FirstAttemptWindow({
    limit,
    perTargetLimit,
    maxWaitMs,
    pollMs: 10,
    attempted: async (ids) => {
      lookups.push([...ids]);
      return new Set(ids.filter((id) => attempted.has(id)));
    },
  });
  return { window, attempted, lookups };
}

const handedOff: string[] = [];
const handOff = (id: string) => async (): Promise<void> => void handedOff.push(id);

beforeEach(() => {
  handedOff.length = 0;
});

test('with the window full, the next hand-off waits until a delivery in it is attempted', async () => {
  const { window, attempted, lookups } = windowOf(2);
  await window.run('a', 'target', handOff('a'));
  await window.run('b', 'target', handOff('b'));
  const third = window.run('c', 'target', handOff('c'));
  await delay(50);
  expect(handedOff).toEqual(['a', 'b']);
  expect(window.waiting).toBe(1);
  expect(lookups.at(-1)?.sort()).toEqual(['a', 'b']);
  attempted.add('b');
  await third;
  expect(handedOff).toEqual(['a', 'b', 'c']);
  expect(window.waiting).toBe(0);
  await window.stop();
});

test('an unattempted delivery leaves the window after maxWaitMs: the window never waits for ever', async () => {
  const { window } = windowOf(1, 100);
  await window.run('slow', 'target', handOff('slow'));
  const started = performance.now();
  await window.run('next', 'target', handOff('next'));
  expect(performance.now() - started).toBeGreaterThanOrEqual(90);
  expect(handedOff).toEqual(['slow', 'next']);
  await window.stop();
});

test('a failed hand-off gives its place back at once', async () => {
  const { window } = windowOf(1);
  await expect(
    window.run('x', 'target', async () => {
      throw new Error('Temporal unavailable');
    }),
  ).rejects.toThrow('Temporal unavailable');
  await window.run('y', 'target', handOff('y'));
  expect(handedOff).toEqual(['y']);
  await window.stop();
});

test('stop lets the waiting through', async () => {
  const { window } = windowOf(1);
  await window.run('a', 'target', handOff('a'));
  const waiting = window.run('b', 'target', handOff('b'));
  await delay(20);
  await window.stop();
  await waiting;
  expect(handedOff).toEqual(['a', 'b']);
});

test('a failed look-up is reported, and the window still lets deliveries go by age', async () => {
  const errors: unknown[] = [];
  const window = new FirstAttemptWindow({
    limit: 1,
    maxWaitMs: 50,
    pollMs: 10,
    attempted: async () => {
      throw new Error('store down');
    },
    onError: (error) => errors.push(error),
  });
  await window.run('a', 'target', handOff('a'));
  await window.run('b', 'target', handOff('b'));
  expect(handedOff).toEqual(['a', 'b']);
  expect(errors.length).toBeGreaterThan(0);
  await window.stop();
});

test('one target holds at most its share: a hanging receiver does not take the window from the others', async () => {
  const { window, attempted } = windowOf(4, 60_000, 2);
  await window.run('a1', 'hanging', handOff('a1'));
  await window.run('a2', 'hanging', handOff('a2'));
  const third = window.run('a3', 'hanging', handOff('a3'));
  await window.run('b1', 'healthy', handOff('b1'));
  await window.run('b2', 'healthy', handOff('b2'));
  expect(handedOff).toEqual(['a1', 'a2', 'b1', 'b2']);
  expect(window.waiting).toBe(1);
  attempted.add('a1');
  await third;
  expect(handedOff).toEqual(['a1', 'a2', 'b1', 'b2', 'a3']);
  await window.stop();
});
