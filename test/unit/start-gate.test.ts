import { setTimeout as sleep } from 'node:timers/promises';
import { StartGate } from '../../src/temporal/start-gate';

/** Runs `count` starts through the gate at once, each taking `ms`; returns the most in flight together. */
async function burst(gate: StartGate, count: number, ms: number): Promise<number> {
  let inFlight = 0;
  let most = 0;
  await Promise.all(
    Array.from({ length: count }, () =>
      gate.run(async () => {
        inFlight += 1;
        most = Math.max(most, inFlight);
        await sleep(ms);
        inFlight -= 1;
      }),
    ),
  );
  return most;
}

test('never more starts in flight than the bound, and every start runs', async () => {
  const gate = new StartGate({ initial: 4, max: 4 });
  expect(await burst(gate, 40, 5)).toBe(4);
  expect(gate.waiting).toBe(0);
});

test('prompt starts raise the bound, up to the most allowed', async () => {
  const gate = new StartGate({ initial: 2, max: 6, targetLatencyMs: 1_000 });
  await burst(gate, 200, 1);
  expect(gate.bound).toBe(6);
});

test('slow starts cut the bound, down to the fewest allowed, at most once per target latency', async () => {
  const gate = new StartGate({ initial: 20, min: 3, targetLatencyMs: 20 });
  // 20 slow starts finishing together cut the bound once, not twenty times.
  await burst(gate, 20, 30);
  expect(gate.bound).toBe(16);
  for (let round = 0; round < 20; round += 1) await burst(gate, gate.bound, 30);
  expect(gate.bound).toBe(3);
});

test('a failed start counts as slow, and its error reaches the caller', async () => {
  const gate = new StartGate({ initial: 10, targetLatencyMs: 1_000 });
  await expect(gate.run(() => Promise.reject(new Error('unavailable')))).rejects.toThrow('unavailable');
  expect(gate.bound).toBe(8);
});
