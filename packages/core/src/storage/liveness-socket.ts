// A writer's liveness socket (format/names.ts `livenessSocketName`): bound before the
// process writes its first file and held, unreferenced, until it exits. The collector
// connects to it to tell a live writer from a dead one across PID namespaces.
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { MAX_SOCKET_PATH_BYTES, livenessSocketName } from '../format/names.js';
import { processState } from '../process-state.js';

/**
 * Sockets this thread listens on, by path (a second storage for the same id reuses it),
 * shared by the ES module and CommonJS builds: one process, one socket per id.
 */
const held = processState('liveness-sockets', () => new Map<string, net.Server>());

/**
 * `bound`: this thread now listens for `id` (or already did). `taken`: a socket (or some
 * file) of that name exists, left by a process with this id that may still be alive.
 * `unsupported`: no socket here (path too long, no permission); liveness falls back to kill(pid, 0).
 */
export type SocketClaim = 'bound' | 'taken' | 'unsupported';

export function listenForLiveness(directory: string, id: string): SocketClaim {
  const file = path.join(directory, livenessSocketName(id));
  if (held.has(file)) return 'bound';
  if (Buffer.byteLength(file) > MAX_SOCKET_PATH_BYTES) return 'unsupported';
  const server = net.createServer((socket) => socket.destroy());
  // Never crash a worker over its liveness socket (a failed bind is also reported here, later).
  server.on('error', () => {});
  try {
    // Exclusive: bound in this process even in a cluster worker, synchronously. Writable
    // by all: a connect needs write permission, and the collector may run as another user.
    server.listen({ path: file, exclusive: true, readableAll: true, writableAll: true });
  } catch {
    return 'unsupported';
  }
  if (!server.listening) return fs.existsSync(file) ? 'taken' : 'unsupported';
  server.unref();
  held.set(file, server);
  return 'bound';
}

/** Stops listening for `id` (the socket file goes with it). */
export function stopListening(directory: string, id: string): void {
  const file = path.join(directory, livenessSocketName(id));
  held.get(file)?.close();
  held.delete(file);
}
