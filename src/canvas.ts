/**
 * Groups and chords: tasks that run in parallel, and a callback that gets all their
 * results at once.
 *
 * @module
 */

import { cloneTask, Task, type TaskSource, toTask } from "./task.ts";

/**
 * What a group or chord may hold: tasks (pipelines included) and chords.
 *
 * @example
 * ```ts
 * import { type CanvasMember, chord, Dewey, group } from "@dewey/dewey";
 *
 * const dewey = new Dewey({ immediate: true });
 * const add = dewey.task("add", (a: number, b: number) => a + b);
 * const sum = dewey.task("sum", (values: number[]) => values.reduce((a, b) => a + b, 0));
 * const members: CanvasMember[] = [
 *   add.s(1, 2), // a task
 *   add.s(1, 1).then(add, 10), // a pipeline
 *   chord([add.s(2, 2), add.s(3, 3)], sum), // a chord
 * ];
 * const results = await dewey.enqueue(group(members));
 * console.log(await results.get()); // [3, 12, 10]
 * ```
 */
export type CanvasMember = Task<unknown, boolean> | Chord;

function checkMembers(members: unknown, what: string): CanvasMember[] {
  if (!Array.isArray(members)) throw new TypeError(`${what} takes an array of tasks`);
  for (const member of members) {
    if (member instanceof Group) {
      throw new TypeError(
        "Cannot use a group as a chord member: use .then() to turn it into a chord first",
      );
    }
    if (!(member instanceof Task) && !(member instanceof Chord)) {
      throw new TypeError(`${what} members must be tasks (from wrapper.s(...)) or chords`);
    }
  }
  return members;
}

function freshCopy(task: Task): Task {
  const copy = cloneTask(task);
  copy.id = crypto.randomUUID();
  return copy;
}

/**
 * Tasks that run in parallel; `enqueue` gives a `ResultGroup` in member order.
 * `then(callback)` turns the group into a chord.
 *
 * @example
 * ```ts
 * import { Dewey, group } from "@dewey/dewey";
 * const dewey = new Dewey({ immediate: true });
 * const incr = dewey.task("incr", (n: number) => n + 1);
 * const total = dewey.task("total", (values: number[]) => values.reduce((a, b) => a + b, 0));
 * const result = await dewey.enqueue(group([incr.s(1), incr.s(2)]).then(total));
 * console.log(await result.get()); // 5
 * ```
 */
export class Group {
  /** The members, in order. */
  readonly members: CanvasMember[];

  /** Use {@linkcode group} to make one. */
  constructor(members: CanvasMember[]) {
    this.members = checkMembers(members, "group()");
  }

  /** A chord of these members with `callback` (called with `args` after the results). */
  then(callback: TaskSource | Task, ...args: unknown[]): Chord {
    return new Chord(this.members, toTask(callback, args));
  }

  /** Attaches an error handler to every member; returns the group. */
  error(handler: TaskSource | Task, ...args: unknown[]): this {
    for (const member of this.members) {
      // Each member gets its own handler invocation (own id), as a wrapper's .s() gives.
      member.error(handler instanceof Task ? freshCopy(handler) : handler, ...args);
    }
    return this;
  }
}

/**
 * Members that run in parallel, then `callback` with their results as one array (in
 * member order) as its first argument.
 *
 * @example
 * ```ts
 * import { chord, Dewey } from "@dewey/dewey";
 * const dewey = new Dewey({ immediate: true });
 * const double = dewey.task("double", (n: number) => n * 2);
 * const sum = dewey.task("sum", (values: number[]) => values.reduce((a, b) => a + b, 0));
 * const result = await dewey.enqueue(chord([double.s(1), double.s(2)], sum));
 * console.log(await result.get()); // 6
 * ```
 */
export class Chord {
  /** The members, in order. */
  readonly members: CanvasMember[];
  /** The callback task. */
  readonly callback: Task<unknown, boolean>;

  /** Use {@linkcode chord} to make one. */
  constructor(members: CanvasMember[], callback: TaskSource | Task) {
    this.members = checkMembers(members, "chord()");
    if (this.members.length === 0) throw new RangeError("A chord needs at least one member");
    this.callback = toTask(callback, []);
  }

  /** Appends `next` to the callback's pipeline; returns the chord. */
  then(next: TaskSource | Task, ...args: unknown[]): this {
    this.callback.then(next, ...args);
    return this;
  }

  /** Sets the callback's error handler; returns the chord. */
  error(handler: TaskSource | Task, ...args: unknown[]): this {
    this.callback.error(handler, ...args);
    return this;
  }
}

/**
 * Makes a group of tasks (signatures from `wrapper.s(...)`).
 *
 * @example
 * ```ts
 * import { Dewey, group } from "@dewey/dewey";
 * const dewey = new Dewey({ immediate: true });
 * const ping = dewey.task("ping", (n: number) => n);
 * const results = await dewey.enqueue(group([ping.s(1), ping.s(2)]));
 * console.log(results.length); // 2
 * ```
 */
export function group(tasks: CanvasMember[]): Group {
  return new Group(tasks);
}

/**
 * Makes a chord: `tasks` in parallel, then `callback` with their results.
 *
 * @example
 * ```ts
 * import { chord, Dewey } from "@dewey/dewey";
 * const dewey = new Dewey({ immediate: true });
 * const one = dewey.task("one", () => 1);
 * const count = dewey.task("count", (values: number[]) => values.length);
 * console.log(await (await dewey.enqueue(chord([one.s(), one.s()], count))).get()); // 2
 * ```
 */
export function chord(tasks: CanvasMember[], callback: TaskSource | Task): Chord {
  return new Chord(tasks, callback);
}
