// Decodes the collector's delimited protobuf exposition into plain MetricFamily objects.
import protobuf from 'protobufjs';
import { MetricFamilyMessage } from '../../src/collect/protobuf.js';

/** Every MetricFamily of a delimited body; `defaults` fills fields the encoder left out. */
export function decodeFamilies(body: Uint8Array, { defaults = false } = {}): any[] {
  const families = [];
  const reader = protobuf.Reader.create(body);
  while (reader.pos < reader.len) families.push(MetricFamilyMessage.toObject(MetricFamilyMessage.decodeDelimited(reader), { longs: Number, defaults }));
  return families;
}
