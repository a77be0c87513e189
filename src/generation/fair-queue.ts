/**
 * A concurrency limiter that is fair across owners (the operations of the service): a free slot
 * goes to the owner with queued work that has had the fewest turns, so that one owner's backlog
 * delays a newcomer's first task by at most the tasks already running. It is start-time fair
 * queueing with one task per turn: an owner's turns count from the turn of the task that started
 * last when its work arrives; ties go to the owner that queued first. A task can be shared by
 * several owners (requests of two operations joined on one generation); it runs once, at the
 * first turn of any of them.
 */

/** A task as the queue holds it. */
export interface QueuedTask {
  /** Whether it has started, or was cancelled: either way it has left the queue. */
  readonly started: boolean;
}

interface Task extends QueuedTask {
  started: boolean;
  readonly run: () => void;
  readonly reject: (reason: unknown) => void;
}

export class FairQueue {
  readonly #concurrency: number;
  /** Owners with queued tasks, in the order they queued. */
  readonly #owners = new Map<object, { turn: number; readonly tasks: Task[] }>();
  /** The turns each owner has had, kept while it has nothing queued (and dropped with it). */
  readonly #turns = new WeakMap<object, number>();
  /** The turn of the task that started last. */
  #turn = 0;
  #active = 0;
  #pending = 0;

  constructor(concurrency: number) {
    this.#concurrency = concurrency;
  }

  /** Tasks running. */
  get activeCount(): number {
    return this.#active;
  }

  /** Tasks waiting for a slot. */
  get pendingCount(): number {
    return this.#pending;
  }

  /** Runs `fn` when a slot is free and it is `owner`'s turn; the task can then be shared. */
  run<T>(owner: object, fn: () => Promise<T>): { readonly promise: Promise<T>; readonly task: QueuedTask } {
    let run!: () => void;
    let refuse!: (reason: unknown) => void;
    const promise = new Promise<T>((resolve, reject) => {
      refuse = reject;
      run = () => {
        this.#active++;
        new Promise<T>((started) => started(fn()))
          .then(resolve, reject)
          .finally(() => {
            this.#active--;
            this.#next();
          });
      };
    });
    const task: Task = { started: false, run, reject: refuse };
    this.#pending++;
    this.#enqueue(owner, task);
    this.#next();
    return { promise, task };
  }

  /** Gives `owner` a turn at a task still queued for another owner. */
  share(task: QueuedTask, owner: object): void {
    if (!task.started) this.#enqueue(owner, task as Task);
  }

  /**
   * Takes a task that has not started out of the queue: it never runs, and its promise rejects
   * with `reason`. A task that has started is left alone.
   */
  cancel(task: QueuedTask, reason: unknown): void {
    if (task.started) return;
    const queued = task as Task;
    // Dropped from its owners' lists on the way, as a task another owner's turn started.
    queued.started = true;
    this.#pending--;
    queued.reject(reason);
  }

  #enqueue(owner: object, task: Task): void {
    const queued = this.#owners.get(owner);
    if (queued === undefined) this.#owners.set(owner, { turn: Math.max(this.#turns.get(owner) ?? 0, this.#turn), tasks: [task] });
    else queued.tasks.push(task);
  }

  /** Starts tasks while slots are free, each for the owner with the fewest turns. */
  #next(): void {
    while (this.#active < this.#concurrency && this.#pending > 0) {
      let owner: object | undefined;
      let next: { turn: number; readonly tasks: Task[] } | undefined;
      for (const [candidate, queued] of this.#owners) {
        if (next === undefined || queued.turn < next.turn) [owner, next] = [candidate, queued];
      }
      if (owner === undefined || next === undefined) return;
      // Tasks another owner's turn has started are dropped on the way.
      let task = next.tasks.shift();
      while (task?.started) task = next.tasks.shift();
      if (next.tasks.length === 0) this.#owners.delete(owner);
      if (task === undefined) continue;
      this.#turn = next.turn++;
      this.#turns.set(owner, next.turn);
      task.started = true;
      this.#pending--;
      task.run();
    }
  }
}
