// `collect` callbacks (prom-client's way to compute a value when it is scraped) in a
// process that writes to a multiprocess directory: the collector scrapes files, never
// this process's registry, so the callbacks run on the refresh instead (timer, signal
// before a predicted scrape, graceful exit).
import { workerRefresh, type RefreshTask, type WorkerRefresh } from './worker-refresh.js';

interface WithCollect {
  collect?: (this: unknown) => void | Promise<void>;
}

class CollectCallbacks implements RefreshTask {
  readonly metrics = new Set<WithCollect>();
  firstRoundQueued = false;

  async refresh(): Promise<void> {
    for (const metric of this.metrics) await metric.collect?.call(metric);
  }
}

const tasks = new WeakMap<WorkerRefresh, CollectCallbacks>();

/** Runs `metric.collect` at every refresh of this process, if it writes to a directory. */
export function collectOnRefresh(metric: WithCollect): void {
  const refresher = workerRefresh();
  if (!refresher || typeof metric.collect !== 'function') return;
  let task = tasks.get(refresher);
  if (!task) tasks.set(refresher, (task = new CollectCallbacks()));
  task.metrics.add(metric);
  refresher.add(task);
  // Until its callback first runs, an unlabeled metric sits at 0 in the file, which a
  // `min` or `sum` merge would show. Run it as soon as the code creating the metrics (a
  // callback may use metrics created after it, as prom-client's default metrics do) is done.
  if (!task.firstRoundQueued) {
    task.firstRoundQueued = true;
    const queued = task;
    queueMicrotask(() => {
      queued.firstRoundQueued = false;
      void refresher.refresh();
    });
  }
}
