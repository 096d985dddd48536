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
   * UTF-8 (lone surrogates as U+FFFD, as `TextEncoder` does). `ascii` says that every unit is
   * ASCII, so that its Latin-1 is its UTF-8 (a copy at a byte a unit). A sink without it is always
   * given bytes; a sink with it has `countText` too.
   */
  writeText?(text: string, ascii: boolean): void;
  /**
   * The UTF-8 bytes `writeText(text)` will send, counted by the runtime without encoding: text
   * waiting for a sink that writes strings is counted this way, not encoded, up to the mark.
   */
  countText?(text: string): number;
  /**
   * The queue has reached `highWaterMark`, as text worth a write of its own (see
   * `EventStream.#atMark`): pull now if you can take it (a socket not waiting for `drain`).
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
