/**
 * HTTP/1.1 pipelining on the Node adapter. Node parses every request a client pipelines at once,
 * emits `request` for each, and queues the responses behind the one being sent: a queued
 * response has no socket until the ones before it have ended, and Node (before 24) emits `close`
 * only for the response that has the socket. A handler run for a queued response could open an
 * event stream that is never sent and never told that the client left; so the adapter runs it
 * only once the response gets its socket (`ServerResponse` emits `socket` then), which it never
 * does if the connection ends first.
 *
 * @module
 */
import type * as http from "node:http";
import type * as http2 from "node:http2";

/**
 * How many requests one connection may queue behind the response being sent. A connection that
 * queues more is destroyed: no client pipelines that deep (browsers do not pipeline at all), and
 * each queued request holds Node's request and response objects until its turn.
 */
export const MAX_PIPELINED = 32;

/** On a socket: how many of its requests wait for their turn. */
const QUEUED = Symbol("queued");

interface PipelinedSocket {
  [QUEUED]?: number;
  destroy(): void;
}

/**
 * Calls `start` once `res` may be sent: at once, unless Node queued it behind another response
 * on its connection; then when it gets the socket, or never if the connection ends first (or
 * queues more than {@linkcode MAX_PIPELINED}, when it is destroyed).
 */
export function whenCurrent(
  req: http.IncomingMessage | http2.Http2ServerRequest,
  res: http.ServerResponse | http2.Http2ServerResponse,
  start: () => void,
): void {
  // Only HTTP/1 queues: an HTTP/2 response's socket is never null.
  if (res.socket !== null) {
    start();
    return;
  }
  const socket = req.socket as unknown as PipelinedSocket;
  const queued = (socket[QUEUED] ?? 0) + 1;
  if (queued > MAX_PIPELINED) {
    socket.destroy();
    return;
  }
  socket[QUEUED] = queued;
  (res as http.ServerResponse).once("socket", () => {
    socket[QUEUED]!--;
    start();
  });
}
