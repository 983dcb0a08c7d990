// The package's exports whose modules a worker does not need: the collector, the merger,
// the compactor, the server and its web config, the cluster primary, AggregatorRegistry,
// Pushgateway, the protobuf exposition, the file reader, compaction and the liveness check. Each is a stand-in (lazy-value.ts) that loads
// its module on first use, with the real export's type.
import type * as AggregatorRegistryModule from '../interop/aggregator-registry.js';
import type * as CollectorModule from '../collect/collector.js';
import type * as CompactionModule from '../collect/compaction.js';
import type * as CompactorModule from '../collect/compactor.js';
import type * as LivenessModule from '../collect/liveness.js';
import type * as MergeModule from '../collect/merge.js';
import type * as PrimaryModule from '../cluster/primary.js';
import type * as ProtobufModule from '../collect/protobuf.js';
import type * as PushgatewayModule from '../interop/pushgateway.js';
import type * as ReaderModule from '../format/reader.js';
import type * as ServerModule from '../serve/server.js';
import type * as WebConfigModule from '../serve/web-config.js';
import type { RegistryContentType } from '../metrics/registry.js';
import { heavy } from './heavy-modules.js';
import { lazyClass, lazyFunction, lazyObject } from './lazy-value.js';

export const Collector: typeof CollectorModule.Collector = lazyClass('Collector', () => heavy('collector').Collector);
export type Collector = CollectorModule.Collector;

export const DirectoryMerger: typeof MergeModule.DirectoryMerger = lazyClass('DirectoryMerger', () => heavy('merge').DirectoryMerger);
export type DirectoryMerger = MergeModule.DirectoryMerger;

export const Compactor: typeof CompactorModule.Compactor = lazyClass('Compactor', () => heavy('compactor').Compactor);
export type Compactor = CompactorModule.Compactor;

export const AggregatorRegistry: typeof AggregatorRegistryModule.AggregatorRegistry = lazyClass('AggregatorRegistry', () => heavy('aggregatorRegistry').AggregatorRegistry);
export type AggregatorRegistry<T extends RegistryContentType = RegistryContentType> = AggregatorRegistryModule.AggregatorRegistry<T>;

export const Pushgateway: typeof PushgatewayModule.Pushgateway = lazyClass('Pushgateway', () => heavy('pushgateway').Pushgateway);
export type Pushgateway<T extends string = string> = PushgatewayModule.Pushgateway<T>;
export declare namespace Pushgateway {
  /** prom-client's name for the parameters of push, pushAdd and delete. */
  type Parameters = PushgatewayModule.Pushgateway.Parameters;
}

export const WebConfigError: typeof WebConfigModule.WebConfigError = lazyClass('WebConfigError', () => heavy('webConfig').WebConfigError);
export type WebConfigError = WebConfigModule.WebConfigError;

export const loadWebConfig: typeof WebConfigModule.loadWebConfig = lazyFunction('loadWebConfig', () => heavy('webConfig').loadWebConfig);
export const startMetricsServer: typeof ServerModule.startMetricsServer = lazyFunction('startMetricsServer', () => heavy('server').startMetricsServer);
export const startClusterCollector: typeof PrimaryModule.startClusterCollector = lazyFunction('startClusterCollector', () => heavy('primary').startClusterCollector);
export const renderProtobuf: typeof ProtobufModule.renderProtobuf = lazyFunction('renderProtobuf', () => heavy('protobuf').renderProtobuf);
export const MetricFamilyMessage: typeof ProtobufModule.MetricFamilyMessage = lazyObject(() => heavy('protobuf').MetricFamilyMessage);

export const DbFileReader: typeof ReaderModule.DbFileReader = lazyClass('DbFileReader', () => heavy('reader').DbFileReader);
export type DbFileReader = ReaderModule.DbFileReader;
export const ReadBuffer: typeof ReaderModule.ReadBuffer = lazyClass('ReadBuffer', () => heavy('reader').ReadBuffer);
export type ReadBuffer = ReaderModule.ReadBuffer;
export const readDbFile: typeof ReaderModule.readDbFile = lazyFunction('readDbFile', () => heavy('reader').readDbFile);

export const compactDeadProcesses: typeof CompactionModule.compactDeadProcesses = lazyFunction('compactDeadProcesses', () => heavy('compaction').compactDeadProcesses);
export const recoverCompaction: typeof CompactionModule.recoverCompaction = lazyFunction('recoverCompaction', () => heavy('compaction').recoverCompaction);
export const visibleFiles: typeof CompactionModule.visibleFiles = lazyFunction('visibleFiles', () => heavy('compaction').visibleFiles);
export const findDeadProcessIds: typeof LivenessModule.findDeadProcessIds = lazyFunction('findDeadProcessIds', () => heavy('liveness').findDeadProcessIds);
export const isProcessAlive: typeof LivenessModule.isProcessAlive = lazyFunction('isProcessAlive', () => heavy('liveness').isProcessAlive);
