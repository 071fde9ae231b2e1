/**
 * How a dequeued task's message leaves the queue: the result and the ack as one storage
 * step when nothing durable follows, batched leasing, and dead letters for messages whose
 * lease kept expiring.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  type AckEffects,
  Dewey,
  type DeweyOptions,
  type Logger,
  MemoryStorage,
  RetryTask,
  type Task,
} from "../mod.ts";

const silent: Logger = { debug() {}, info() {}, warn() {}, error() {} };

/** A MemoryStorage that records its writes to the queue and the key/value store. */
class RecordingStorage extends MemoryStorage {
  readonly calls: string[] = [];

  override ack(lease: string, effects?: AckEffects): Promise<void> {
    const parts = [
      effects?.put ? `put ${effects.put.key}` : "",
      ...(effects?.delete ?? []).map((key) => `delete ${key}`),
    ].filter(Boolean);
    this.calls.push(parts.length ? `ack with ${parts.join(", ")}` : "ack");
    return super.ack(lease, effects);
  }

  override putData(key: string, value: string, ttl?: number): Promise<void> {
    this.calls.push(`putData ${key}`);
    return super.putData(key, value, ttl);
  }

  override deleteData(key: string, expected?: string): Promise<boolean> {
    this.calls.push(`deleteData ${key}`);
    return super.deleteData(key, expected);
  }

  override enqueue(data: string, priority: number): Promise<void> {
    this.calls.push("enqueue");
    return super.enqueue(data, priority);
  }
}

let instances = 0;

function setup(options: DeweyOptions = {}) {
  const storage = new RecordingStorage();
  const dewey = new Dewey({ name: `delivery-${++instances}`, logger: silent, storage, ...options });
  return { dewey, storage };
}

/** The next task, as a one-element tuple (a `Task` has a `then` method). */
async function next(dewey: Dewey): Promise<[Task]> {
  const [task] = await dewey.dequeue();
  assert.ok(task, "expected a task in the queue");
  return [task];
}

describe("the result and the ack", () => {
  it("are one storage step, with the revocation clean-up, when nothing follows", async () => {
    const { dewey, storage } = setup();
    const add = dewey.task("add", (a: number, b: number) => a + b);
    const result = await add(1, 2);
    const [task] = await next(dewey);
    storage.calls.length = 0;
    assert.equal(await dewey.execute(task), 3);
    assert.deepEqual(storage.calls, [`ack with put ${task.id}, delete ~r:${task.id}`]);
    assert.equal(await result.get(), 3);
    assert.equal(await storage.leasedCount(), 0);
    assert.equal(await storage.queueSize(), 0);
  });

  it("a final failure's error is stored by the ack too", async () => {
    const { dewey, storage } = setup();
    const fail = dewey.task("fail", () => {
      throw new RangeError("nope");
    });
    const result = await fail();
    const [task] = await next(dewey);
    storage.calls.length = 0;
    await dewey.execute(task);
    assert.deepEqual(storage.calls, [`ack with put ${task.id}, delete ~r:${task.id}`]);
    await assert.rejects(result.get(), /RangeError: nope/);
  });

  it("without results, the ack still clears the revocation", async () => {
    const { dewey, storage } = setup({ results: false });
    const add = dewey.task("add", (a: number, b: number) => a + b);
    await add(1, 2);
    const [task] = await next(dewey);
    storage.calls.length = 0;
    await dewey.execute(task);
    assert.deepEqual(storage.calls, [`ack with delete ~r:${task.id}`]);
    assert.equal(await storage.resultCount(), 0);
  });

  it("are apart when a pipeline step follows: the lease outlives the enqueue", async () => {
    const { dewey, storage } = setup();
    const add = dewey.task("add", (a: number, b: number) => a + b);
    await dewey.enqueue(add.s(1, 2).then(add, 10));
    const [task] = await next(dewey);
    storage.calls.length = 0;
    await dewey.execute(task);
    assert.deepEqual(storage.calls, [
      `deleteData ~r:${task.id}`,
      `putData ${task.id}`,
      "enqueue",
      "ack",
    ]);
  });

  it("are apart when a retry follows: the retry is enqueued before the ack", async () => {
    const { dewey, storage } = setup();
    let runs = 0;
    const flaky = dewey.task("flaky", () => {
      runs += 1;
      if (runs === 1) throw new RetryTask();
      return "ok";
    }, { retries: 1 });
    const result = await flaky();
    const [task] = await next(dewey);
    storage.calls.length = 0;
    await dewey.execute(task);
    assert.deepEqual(storage.calls, [`putData ${task.id}`, "enqueue", "ack"]);
    await dewey.execute((await next(dewey))[0]);
    assert.equal(await result.get(), "ok");
  });

  it("a task executed without a lease (immediate mode) stores its result as before", async () => {
    const { dewey, storage } = setup({ immediate: true, immediateUseMemory: false });
    const add = dewey.task("add", (a: number, b: number) => a + b);
    const result = await add(2, 3);
    assert.equal(await result.get(), 5);
    assert.deepEqual(storage.calls, [
      `deleteData ~r:${result.id}`,
      `putData ${result.id}`,
    ]);
  });
});

describe("batched leasing", () => {
  it("dequeueMany leases several tasks in dequeue order and dead-letters bad ones", async () => {
    const { dewey, storage } = setup();
    const add = dewey.task("add", (a: number, b: number) => a + b);
    await add(1, 1);
    await storage.enqueue("garbage", 0);
    await add(2, 2);
    await add(3, 3);
    const tasks = await dewey.dequeueMany(3);
    assert.deepEqual(tasks.map((task) => task.args), [[1, 1], [2, 2], [3, 3]]);
    assert.equal(await storage.leasedCount(), 3);
    const [dead] = await dewey.deadLetters();
    assert.equal(dead.data, "garbage");
    assert.match(dead.reason, /^cannot decode message: /);
    for (const task of tasks) await dewey.execute(task);
    assert.equal(await storage.leasedCount(), 0);
    assert.deepEqual(await dewey.dequeueMany(3), []);
  });
});

describe("maxLeaseExpiries", () => {
  it("a message whose lease expired more times than allowed goes to dead letter", async () => {
    const { dewey, storage } = setup({ maxLeaseExpiries: 2 });
    const add = dewey.task("add", (a: number, b: number) => a + b);
    const result = await add(1, 2);
    const far = Date.now() + 10 ** 9;
    for (let expiry = 1; expiry <= 3; expiry++) {
      // Leased and never finished: the consumer holding it died.
      const [task] = await dewey.dequeue();
      assert.ok(task, `delivery ${expiry} leases the task`);
      assert.equal(await storage.requeueExpired(far * expiry), 1);
    }
    assert.deepEqual(await dewey.dequeue(), []);
    const [dead] = await dewey.deadLetters();
    assert.equal(
      dead.reason,
      "lease expired 3 times: the consumers running it died or stalled (maxLeaseExpiries is 2)",
    );
    assert.equal(await storage.queueSize(), 0);
    assert.equal(await storage.leasedCount(), 0);
    assert.equal(await result.get(), undefined);
    assert.equal(await dewey.requeueDeadLetter(dead.id), true);
    const [again] = await dewey.dequeue();
    assert.ok(again, "a requeued dead letter starts counting from 0");
    assert.equal(await dewey.execute(again), 3);
  });

  it("must be an integer >= 0", () => {
    for (const bad of [-1, 1.5, Number.NaN, "3"]) {
      assert.throws(
        () => new Dewey({ maxLeaseExpiries: bad as number }),
        { name: "RangeError", message: 'Invalid "maxLeaseExpiries": expected an integer >= 0' },
      );
    }
    assert.equal(new Dewey().maxLeaseExpiries, 5);
  });
});

describe("an execution that fails on the storage", () => {
  it("gives the message back instead of acking a task that never ran", async () => {
    const storage = new MemoryStorage();
    let down = false;
    const peek = storage.peekData.bind(storage);
    storage.peekData = (key) => down ? Promise.reject(new Error("down")) : peek(key);
    const dewey = new Dewey({ name: `delivery-${++instances}`, storage, logger: silent });
    let ran = 0;
    const record = dewey.task("record", () => void ran++);
    await record();
    const [task] = await dewey.dequeueMany(1);
    down = true;
    await assert.rejects(dewey.execute(task), /down/);
    down = false;
    assert.equal(ran, 0);
    assert.equal(await dewey.leasedCount(), 0);
    assert.equal(await dewey.pendingCount(), 1);
    const [again] = await dewey.dequeueMany(1);
    await dewey.execute(again);
    assert.equal(ran, 1);
    assert.equal(await dewey.pendingCount(), 0);
  });
});
