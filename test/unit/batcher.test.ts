import { Batcher } from '../../src/util/batcher';

describe('Batcher', () => {
  test('a lone item is written at once, in a batch of its own', async () => {
    const writes: string[][] = [];
    const batcher = new Batcher<string>(async (items) => {
      writes.push([...items]);
    });
    await batcher.add('a');
    expect(writes).toEqual([['a']]);
  });

  test('items added while a write is in flight go together in the next write, at most maxBatch each', async () => {
    const writes: string[][] = [];
    let release: () => void = () => undefined;
    const firstWrite = new Promise<void>((resolve) => (release = resolve));
    const batcher = new Batcher<string>(async (items) => {
      writes.push([...items]);
      if (writes.length === 1) await firstWrite;
    }, 3);
    const added = [batcher.add('a')];
    await new Promise((resolve) => setImmediate(resolve));
    for (const item of ['b', 'c', 'd', 'e']) added.push(batcher.add(item));
    release();
    await Promise.all(added);
    expect(writes).toEqual([['a'], ['b', 'c', 'd'], ['e']]);
  });

  test("a failed write rejects its own batch's items only", async () => {
    const batcher = new Batcher<string>(async (items) => {
      if (items.includes('bad')) throw new Error('write failed');
    });
    await expect(batcher.add('bad')).rejects.toThrow('write failed');
    await expect(batcher.add('good')).resolves.toBeUndefined();
  });

  test('each item resolves with its own result; one given as a rejected promise fails that item alone', async () => {
    const batcher = new Batcher<number, number>(async (items) => {
      const results = items.map((n) => (n < 0 ? Promise.reject(new Error(`bad ${n}`)) : Promise.resolve(n * 10)));
      await Promise.allSettled(results);
      return results;
    });
    const [one, bad, two] = await Promise.allSettled([batcher.add(1), batcher.add(-1), batcher.add(2)]);
    expect(one).toEqual({ status: 'fulfilled', value: 10 });
    expect(bad).toMatchObject({ status: 'rejected', reason: new Error('bad -1') });
    expect(two).toEqual({ status: 'fulfilled', value: 20 });
  });
});
