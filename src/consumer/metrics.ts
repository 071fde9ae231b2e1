/**
 * Prometheus metrics: task counts by name and outcome and run durations (a histogram),
 * counted in process by a consumer or from the event log by the dashboard, plus the
 * queue's gauges read from the storage; rendered in Prometheus' text format.
 *
 * @module
 */

import type { Dewey } from "../dewey.ts";

/** Histogram bucket bounds, seconds. */
export const DURATION_BUCKETS: readonly number[] = [
  0.005,
  0.01,
  0.025,
  0.05,
  0.1,
  0.25,
  0.5,
  1,
  2.5,
  5,
  10,
  30,
  60,
  300,
];

/** Signals that are not an outcome: the start of a task's life or of a run. */
const NOT_OUTCOMES = new Set(["enqueued", "scheduled", "executing"]);
/** Signals whose duration the histogram observes. */
const RUN_ENDS = new Set(["complete", "error"]);

interface Histogram {
  counts: number[];
  sum: number;
  count: number;
}

/**
 * Task counters and duration histograms by task name, in Prometheus' text format. Every
 * consumer keeps one (`consumer.metrics`); the dashboard fills one from the event log.
 *
 * @example
 * ```ts
 * import { TaskMetrics } from "@dewey/dewey";
 *
 * const metrics = new TaskMetrics();
 * metrics.record("executing", "resize"); // not an outcome: not counted
 * metrics.record("complete", "resize", 0.2);
 * metrics.record("error", "resize", 1.5);
 * console.log(metrics.count("resize", "complete")); // 1
 * const lines = metrics.lines("images");
 * console.log(lines.includes('dewey_tasks_total{instance="images",task="resize",outcome="error"} 1')); // true
 * console.log(lines.includes('dewey_task_duration_seconds_count{instance="images",task="resize"} 2')); // true
 * ```
 */
export class TaskMetrics {
  readonly #outcomes = new Map<string, Map<string, number>>();
  readonly #durations = new Map<string, Histogram>();

  /**
   * Counts a signal of task `task` as an outcome (every signal but `enqueued`,
   * `scheduled` and `executing`) and, with `seconds`, observes the duration of a run that
   * ended in `complete` or `error`.
   */
  record(signal: string, task: string, seconds?: number): void {
    if (NOT_OUTCOMES.has(signal)) return;
    let byOutcome = this.#outcomes.get(task);
    if (!byOutcome) this.#outcomes.set(task, byOutcome = new Map());
    byOutcome.set(signal, (byOutcome.get(signal) ?? 0) + 1);
    // A run ends once, in `complete` or `error` (a timeout is followed by its error).
    if (seconds === undefined || !(seconds >= 0) || !RUN_ENDS.has(signal)) return;
    let histogram = this.#durations.get(task);
    if (!histogram) {
      histogram = { counts: DURATION_BUCKETS.map(() => 0), sum: 0, count: 0 };
      this.#durations.set(task, histogram);
    }
    for (let i = 0; i < DURATION_BUCKETS.length; i++) {
      if (seconds <= DURATION_BUCKETS[i]) histogram.counts[i]++;
    }
    histogram.sum += seconds;
    histogram.count++;
  }

  /** How many times `task` ended with `outcome`. */
  count(task: string, outcome: string): number {
    return this.#outcomes.get(task)?.get(outcome) ?? 0;
  }

  /** The counter and histogram lines, with the `instance` label. */
  lines(instance: string): string[] {
    const lines = [
      "# HELP dewey_tasks_total Task runs and other outcomes by task name and signal.",
      "# TYPE dewey_tasks_total counter",
    ];
    for (const task of [...this.#outcomes.keys()].sort()) {
      const byOutcome = this.#outcomes.get(task)!;
      for (const outcome of [...byOutcome.keys()].sort()) {
        const labels = labelSet({ instance, task, outcome });
        lines.push(`dewey_tasks_total${labels} ${byOutcome.get(outcome)}`);
      }
    }
    lines.push(
      "# HELP dewey_task_duration_seconds How long task runs took.",
      "# TYPE dewey_task_duration_seconds histogram",
    );
    for (const task of [...this.#durations.keys()].sort()) {
      const histogram = this.#durations.get(task)!;
      DURATION_BUCKETS.forEach((bound, i) => {
        const labels = labelSet({ instance, task, le: String(bound) });
        lines.push(`dewey_task_duration_seconds_bucket${labels} ${histogram.counts[i]}`);
      });
      const all = labelSet({ instance, task, le: "+Inf" });
      const labels = labelSet({ instance, task });
      lines.push(
        `dewey_task_duration_seconds_bucket${all} ${histogram.count}`,
        `dewey_task_duration_seconds_sum${labels} ${number(histogram.sum)}`,
        `dewey_task_duration_seconds_count${labels} ${histogram.count}`,
      );
    }
    return lines;
  }
}

/**
 * A gauge: a value read at scrape time.
 *
 * @example
 * ```ts
 * import { type Gauge, metricsHandler, TaskMetrics, Dewey } from "@dewey/dewey";
 *
 * const uptime: Gauge = { name: "app_up", help: "Whether the app runs.", value: 1 };
 * const handler = metricsHandler(new Dewey(), new TaskMetrics(), () => [uptime]);
 * const text = await (await handler(new Request("http://localhost/metrics"))).text();
 * console.log(text.includes('app_up{instance="dewey"} 1')); // true
 * ```
 */
export interface Gauge {
  /** The metric name, e.g. `dewey_queue_depth`. */
  name: string;
  /** One line saying what it measures. */
  help: string;
  /** The value. */
  value: number;
}

/** Escapes a label value as the text format asks. */
function escapeLabel(value: string): string {
  return value.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"');
}

function labelSet(labels: Record<string, string>): string {
  const pairs = Object.entries(labels).map(([key, value]) => `${key}="${escapeLabel(value)}"`);
  return `{${pairs.join(",")}}`;
}

/** A sample value: integers as they are, other numbers without float noise. */
function number(value: number): string {
  return Number.isInteger(value) ? String(value) : String(Number(value.toPrecision(12)));
}

/** The gauge lines, with the `instance` label. */
export function gaugeLines(instance: string, gauges: readonly Gauge[]): string[] {
  return gauges.flatMap(({ name, help, value }) => [
    `# HELP ${name} ${help}`,
    `# TYPE ${name} gauge`,
    `${name}${labelSet({ instance })} ${number(value)}`,
  ]);
}

/** The queue's gauges, read from the instance's storage. */
export async function queueGauges(dewey: Dewey): Promise<Gauge[]> {
  const [pending, scheduled, leased, deadLetters] = await Promise.all([
    dewey.pendingCount(),
    dewey.scheduledCount(),
    dewey.leasedCount(),
    dewey.storage.deadLetters().then((entries) => entries.length),
  ]);
  return [
    { name: "dewey_queue_depth", help: "Messages waiting in the queue.", value: pending },
    { name: "dewey_schedule_size", help: "Messages in the schedule.", value: scheduled },
    { name: "dewey_leased", help: "Messages leased by consumers (running).", value: leased },
    { name: "dewey_dead_letters", help: "Messages in dead letter.", value: deadLetters },
  ];
}

/** The content type of the text format. */
export const METRICS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

/**
 * A fetch handler serving `GET /metrics` for a consumer: its in-process task metrics plus
 * the queue's gauges (what `cli.ts consume --metrics-port` serves). Serve it with
 * `Deno.serve(handler)`, `Bun.serve({ fetch: handler })` or any fetch-style server.
 *
 * @example
 * ```ts
 * import { Dewey, metricsHandler } from "@dewey/dewey";
 * import { Consumer } from "@dewey/dewey/consumer";
 *
 * const dewey = new Dewey({ name: "shop" });
 * const consumer = new Consumer(dewey, { periodic: false, log: { write() {} } });
 * await dewey.task("noop", () => {})();
 * const handler = metricsHandler(dewey, consumer.metrics);
 * const response = await handler(new Request("http://localhost/metrics"));
 * const text = await response.text();
 * console.log(text.includes('dewey_queue_depth{instance="shop"} 1')); // true
 * ```
 */
export function metricsHandler(
  dewey: Dewey,
  metrics: TaskMetrics,
  extra: () => Gauge[] = () => [],
): (request: Request) => Promise<Response> {
  return async (request) => {
    const { pathname } = new URL(request.url);
    if (pathname !== "/metrics") return new Response("not found\n", { status: 404 });
    if (request.method !== "GET" && request.method !== "HEAD") {
      return new Response("method not allowed\n", { status: 405, headers: { allow: "GET" } });
    }
    try {
      const gauges = [...await queueGauges(dewey), ...extra()];
      const body = [...metrics.lines(dewey.name), ...gaugeLines(dewey.name, gauges)].join("\n");
      return new Response(`${body}\n`, { headers: { "content-type": METRICS_CONTENT_TYPE } });
    } catch (error) {
      const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
      return new Response(`storage unavailable: ${message}\n`, { status: 503 });
    }
  };
}
