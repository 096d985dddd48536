/**
 * The sink protocol: what drains a stream's queue. The response body's `ReadableStream` on the
 * fetch path (`body-source.ts`), or an adapter that writes straight to a socket (`SocketSink` in
 * `adapters/_node/socket-sink.ts`). The stream calls the sink; the sink calls the stream's `pull()`
 * when it can take more.
 *
 * @module
 */

/** What drains an {@linkcode EventStream}. */
export interface StreamSink {
  /** Bytes (or the end) are waiting: pull when you can. Called once until the next pull. */
  wake(): void;
  /** Takes everything queued since the last pull, as one chunk. */
  write(chunk: Uint8Array): void;
  /**
   * Takes everything queued since the last pull when it is text only, which the runtime encodes as
   * UTF-8 (lone surrogates as U+FFFD, as `TextEncoder` does); returns the bytes that makes. A sink
   * without it is always given bytes.
   */
  writeText?(text: string): number;
  /**
   * Text is waiting that is worth a write of its own, and would soon need encoding to be counted
   * (see `EventStream.pushText`): pull now if you can take it (a socket not waiting for `drain`).
   */
  flush?(): void;
  /** Ends the body normally: everything dispatched has been written. */
  end(): void;
  /** Ends the body abruptly (overflow, error): the client must see a failed stream, not an end. */
  abort(error: unknown): void;
  /** The client is gone: release the body quietly. */
  leave(): void;
  /**
   * The first keep-alive tick (or a `close()` that must wait) found the body never read: from now
   * on the sink must not be what keeps an unsent body alive (see `body-source.ts`).
   */
  unread?(): void;
}
