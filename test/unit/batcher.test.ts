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
});
