// Whether a scrape asks for the protobuf exposition, and its content type: apart from
// protobuf.ts, which loads protobufjs.
export const PROTOBUF_CONTENT_TYPE = 'application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited';

/** True when an Accept header asks for the delimited MetricFamily protobuf format. */
export function wantsProtobuf(accept: string | undefined): boolean {
  return accept !== undefined && /application\/vnd\.google\.protobuf/.test(accept) && /proto=io\.prometheus\.client\.MetricFamily/.test(accept)
    && /encoding=delimited/.test(accept) && !/application\/vnd\.google\.protobuf[^,]*;\s*q=0(\.0+)?\s*(,|$)/.test(accept);
}
