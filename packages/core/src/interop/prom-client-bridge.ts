// The bridge: a prom-client Registry living in a worker (prom-client's own global
// `register`, which third-party libraries such as express-prom-bundle write to) is
// mirrored into this process's files, so the collector merges it with everything else.
import { processState } from '../process-state.js';
import { globalRegistry } from '../metrics/registry.js';
import { currentStorage } from '../storage/storage.js';
import { workerRefresh, type RefreshTask } from '../refresh/worker-refresh.js';
import { SnapshotWriter, type SnapshotWriterOptions } from './bridge.js';
import { snapshotFromInternals, snapshotFromJson, type PromClientRegistryLike } from './snapshot.js';

export interface PromClientBridgeOptions extends SnapshotWriterOptions {
  /**
   * Mirror period in ms (default 1000): the staleness bound of mirrored values when no
   * collector signals a refresh before its scrapes. The shortest period asked for in the
   * process wins.
   */
  intervalMs?: number;
  log?: (message: string) => void;
}

export interface PromClientBridge {
  /** Mirrors the registry now; resolves when its values are in the files. */
  flush(): Promise<void>;
  /** Stops mirroring; what was mirrored stays in the files. */
  stop(): void;
}

/** The shadowing warning is one line per process, however many names and registries. */
let shadowingReported = false;

class RegistryMirror implements RefreshTask, PromClientBridge {
  private readonly writer: SnapshotWriter;
  private readonly log: (message: string) => void;

  constructor(readonly registry: PromClientRegistryLike, private readonly options: PromClientBridgeOptions) {
    this.writer = new SnapshotWriter(currentStorage(), options);
    this.log = options.log ?? ((m) => console.warn(m));
  }

  async refresh(): Promise<void> {
    const metrics = await this.registry.getMetricsAsJSON();
    const shadowed: string[] = [];
    for (const metric of metrics) {
      if (this.shadowed(metric.name, shadowed)) continue;
      const snapshot = snapshotFromJson(metric);
      if (snapshot) this.writer.write(snapshot);
    }
    this.report(shadowed);
  }

  refreshSync(): void {
    const defaults = (this.registry as { _defaultLabels?: Record<string, unknown> })._defaultLabels ?? {};
    for (const metric of this.registry.getMetricsAsArray()) {
      const snapshot = snapshotFromInternals(metric, defaults);
      if (snapshot && !this.shadowed(snapshot.name, [])) this.writer.write(snapshot);
    }
  }

  flush(): Promise<void> {
    return workerRefresh()?.refresh() ?? Promise.resolve();
  }

  stop(): void {
    workerRefresh()?.remove(this);
    bridges.delete(this.registry);
  }

  /**
   * A name this process also defines with prom-multiproc's own classes (say, default
   * metrics collected by both libraries) is already in the files: writing the prom-client
   * copy over the same entries would corrupt both, so the native one wins.
   */
  private shadowed(name: string, found: string[]): boolean {
    if (!globalRegistry.getSingleMetric(name)) return false;
    found.push(name);
    return true;
  }

  private report(shadowed: string[]): void {
    if (shadowingReported || shadowed.length === 0) return;
    shadowingReported = true;
    const names = shadowed.length > 3 ? `${shadowed.slice(0, 3).join(', ')} and ${shadowed.length - 3} more` : shadowed.join(', ');
    this.log(
      `prom-multiproc: ${shadowed.length === 1 ? '1 prom-client metric is' : `${shadowed.length} prom-client metrics are`} also defined with prom-multiproc in this process (${names}); ` +
        'only the prom-multiproc ones are kept. Default metrics collected twice? Drop prom-client\'s collectDefaultMetrics ' +
        '(express-prom-bundle: the promClient.collectDefaultMetrics option); see docs/migration.md',
    );
  }
}

// One mirror per prom-client registry, even with both builds of this package loaded.
const bridges = processState('bridges', () => new Map<PromClientRegistryLike, RegistryMirror>());
const inert: PromClientBridge = { flush: () => Promise.resolve(), stop: () => {} };

/**
 * Mirrors a prom-client registry into this process's files, every `intervalMs`, when a
 * collector signals a coming scrape, and at graceful exit. Without a multiprocess
 * directory there are no files to mirror into: prom-client's registry serves itself, and
 * the returned bridge does nothing. Bridging the same registry twice returns the first bridge.
 */
export function bridgePromClient(registry: PromClientRegistryLike, options: PromClientBridgeOptions = {}): PromClientBridge {
  if (!registry || typeof registry.getMetricsAsJSON !== 'function' || typeof registry.getMetricsAsArray !== 'function') {
    throw new TypeError('bridgePromClient expects a prom-client Registry (for instance `require("prom-client").register`)');
  }
  const refresher = workerRefresh();
  if (!refresher) return inert;
  let bridge = bridges.get(registry);
  if (!bridge) {
    bridges.set(registry, (bridge = new RegistryMirror(registry, options)));
    // Mirror once right away (after the current code, which may still be registering
    // metrics): the files and entries then exist, and later refreshes are only stores,
    // fast enough to land inside the short lead before a predicted scrape.
    queueMicrotask(() => void refresher.refresh());
  }
  refresher.add(bridge, options.intervalMs);
  return bridge;
}
