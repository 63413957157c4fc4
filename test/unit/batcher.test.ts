import { Batcher, eachAlone } from '../../src/util/batcher';

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

  test('each item resolves with its own result; a refused batch written again item by item (eachAlone) fails the bad one alone', async () => {
    const writes: number[][] = [];
    const write = async (items: readonly number[]) => {
      writes.push([...items]);
      if (items.some((n) => n < 0)) throw new Error(`bad ${items.join(',')}`);
      return items.map((n) => n * 10);
    };
    const batcher = new Batcher<number, number>(async (items) => {
      try {
        return await write(items);
      } catch {
        return eachAlone(items, async (n) => (await write([n]))[0] as number);
      }
    });
    const [one, bad, two] = await Promise.allSettled([batcher.add(1), batcher.add(-1), batcher.add(2)]);
    expect(writes).toEqual([[1, -1, 2], [1], [-1], [2]]);
    expect(one).toEqual({ status: 'fulfilled', value: 10 });
    expect(bad).toMatchObject({ status: 'rejected', reason: new Error('bad -1') });
    expect(two).toEqual({ status: 'fulfilled', value: 20 });
  });
});
