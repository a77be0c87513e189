import { describe, expect, it } from 'vitest';
import { FairQueue } from '../src/generation/fair-queue.js';

/** A task that records its start and ends when the test says. */
function controlled(log: string[], name: string) {
  let finish!: () => void;
  const done = new Promise<void>((resolve) => (finish = resolve));
  return {
    fn: () => {
      log.push(name);
      return done.then(() => name);
    },
    finish,
  };
}

/** Lets every settled promise's reactions run. */
const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('FairQueue', () => {
  it('runs at most `concurrency` tasks at once and counts running and waiting ones back to 0', async () => {
    const queue = new FairQueue(2);
    const log: string[] = [];
    const owner = {};
    const tasks = ['a', 'b', 'c', 'd'].map((name) => controlled(log, name));
    const results = tasks.map(({ fn }) => queue.run(owner, fn).promise);

    expect(log).toEqual(['a', 'b']);
    expect([queue.activeCount, queue.pendingCount]).toEqual([2, 2]);

    tasks[0]!.finish();
    await settle();
    expect(log).toEqual(['a', 'b', 'c']);

    for (const task of tasks) task.finish();
    expect(await Promise.all(results)).toEqual(['a', 'b', 'c', 'd']);
    expect([queue.activeCount, queue.pendingCount]).toEqual([0, 0]);
  });

  it("starts a newcomer's first task at the first free slot, ahead of an earlier owner's backlog", async () => {
    const queue = new FairQueue(1);
    const log: string[] = [];
    const big = {};
    const small = {};
    const backlog = Array.from({ length: 10 }, (_, i) => controlled(log, `big ${i}`));
    for (const { fn } of backlog) queue.run(big, fn);
    const single = controlled(log, 'small');
    queue.run(small, single.fn);

    backlog[0]!.finish();
    await settle();

    expect(log).toEqual(['big 0', 'small']);
  });

  it('takes owners with queued tasks in turn', async () => {
    const queue = new FairQueue(1);
    const log: string[] = [];
    const all: ReturnType<typeof controlled>[] = [];
    for (const owner of ['a', 'b', 'c']) {
      const key = {};
      for (let i = 0; i < 3; i++) {
        const task = controlled(log, `${owner}${i}`);
        all.push(task);
        queue.run(key, task.fn);
      }
    }

    for (let i = 0; i < all.length; i++) {
      for (const task of all) task.finish();
      await settle();
    }

    expect(log).toEqual(['a0', 'b0', 'c0', 'a1', 'b1', 'c1', 'a2', 'b2', 'c2']);
  });

  it("runs a shared task once, at the turn of whichever owner comes first, and it still counts once as waiting", async () => {
    const queue = new FairQueue(1);
    const log: string[] = [];
    const big = {};
    const small = {};
    const blocker = controlled(log, 'big 0');
    queue.run(big, blocker.fn);
    const backlog = Array.from({ length: 5 }, (_, i) => controlled(log, `big ${i + 1}`));
    const tasks = backlog.map(({ fn }) => queue.run(big, fn));
    // The last of the backlog is wanted by another operation too.
    queue.share(tasks[4]!.task, small);
    expect(queue.pendingCount).toBe(5);

    blocker.finish();
    await settle();
    expect(log).toEqual(['big 0', 'big 5']);

    for (let i = 0; i < 6; i++) {
      for (const task of backlog) task.finish();
      await settle();
    }
    expect(log).toEqual(['big 0', 'big 5', 'big 1', 'big 2', 'big 3', 'big 4']);
    expect([queue.activeCount, queue.pendingCount]).toEqual([0, 0]);
  });

  it('rejects the promise of a task that throws at once, and frees its slot', async () => {
    const queue = new FairQueue(1);
    const failing = queue.run({}, () => {
      throw new Error('at once');
    });
    const next = queue.run({}, () => Promise.resolve('next'));

    await expect(failing.promise).rejects.toThrow('at once');
    await expect(next.promise).resolves.toBe('next');
    expect([queue.activeCount, queue.pendingCount]).toEqual([0, 0]);
  });
});
