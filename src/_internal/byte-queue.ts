/**
 * The bytes a stream holds between `dispatch*` and the runtime taking them.
 *
 * Long frames are queued as they are (a channel's members share one frame); short ones are copied
 * into blocks while they wait, because a queued `Uint8Array` costs some 200 bytes of heap and
 * backing store whatever its length: a stalled client sent tiny events (comments, tokens) would
 * otherwise hold fifty times its byte bound. `take()` hands everything over as one chunk.
 *
 * The queue knows nothing of bounds or of the stream's state: {@linkcode EventStream}, which
 * extends it, decides what may be appended.
 *
 * @module
 */

/**
 * Frames shorter than this are copied into a block while they wait, rather than queued one object
 * each.
 */
const COPY_BELOW = 1024;
/** The first block's size; each next one doubles, up to {@linkcode MAX_BLOCK}. */
const MIN_BLOCK = 256;
/** The largest block: a stalled queue is a list of blocks this size (plus any long frames). */
const MAX_BLOCK = 16 * 1024;

const ENCODER = new TextEncoder();

/**
 * Whether short texts are encoded straight into the block. On V8 (Node, Deno, Workers) a small
 * `encode()` costs several times an `encodeInto()` (the new `Uint8Array` dominates); on
 * JavaScriptCore (Bun) it is the other way round (measured: V8 1,050 against 275 ns a frame,
 * Bun 305 against 515). Bun says so in `navigator.userAgent`.
 */
const ENCODE_INTO =
  typeof navigator === "undefined" || !String(navigator.userAgent).startsWith("Bun/");

/** A queue of frames, counted in bytes, taken all at once. */
export class ByteQueue {
  /**
   * The first chunk queued, then the others in `#more`: most takes find one chunk, and an idle
   * stream holds no array (a first `push` gives an array room for 17, some 150 bytes, kept for
   * good by `length = 0`).
   */
  #first: Uint8Array | undefined;
  #more: Uint8Array[] | undefined;
  #bytes = 0;
  /**
   * Short frames queued after the chunks, copied together; the bytes in use are `#blockUsed`.
   * Joins the chunks when full, before a long frame, or on a take.
   */
  #block: Uint8Array | undefined;
  #blockUsed = 0;

  /** Bytes queued. */
  get queuedBytes(): number {
    return this.#bytes;
  }

  /** Queues `bytes` after what is queued. */
  protected enqueue(bytes: Uint8Array): void {
    if (
      bytes.byteLength >= COPY_BELOW ||
      (this.#first === undefined && this.#block === undefined)
    ) {
      // A long frame, or the only one (the client keeps up): queued as it is, no copy.
      this.#sealBlock();
      this.#add(bytes);
    } else this.#copyToBlock(bytes);
    this.#bytes += bytes.byteLength;
  }

  /**
   * Queues the UTF-8 bytes of `text` after what is queued, and returns how many there were. A
   * short text is encoded straight into the block (`encodeInto`): no `Uint8Array` of its own,
   * which cost several times the encoding itself. Lone surrogates become U+FFFD, as
   * `TextEncoder` defines.
   */
  protected enqueueText(text: string): number {
    if (text.length >= COPY_BELOW || !ENCODE_INTO) {
      const bytes = ENCODER.encode(text);
      this.enqueue(bytes);
      return bytes.byteLength;
    }
    // UTF-8 takes at most 3 bytes per UTF-16 unit (a surrogate pair: 4 for 2).
    const block = this.#reserve(text.length * 3);
    const used = this.#blockUsed;
    const { written } = ENCODER.encodeInto(text, used === 0 ? block : block.subarray(used));
    this.#blockUsed = used + written;
    this.#bytes += written;
    return written;
  }

  /** Everything queued as one chunk, and the queue empty; `undefined` when nothing is queued. */
  protected take(): Uint8Array | undefined {
    const size = this.#bytes;
    if (size === 0) return undefined;
    this.#sealBlock();
    const more = this.#more;
    const chunk = more === undefined ? this.#first! : concat(this.#first!, more, size);
    this.#first = undefined;
    this.#more = undefined;
    this.#bytes = 0;
    return chunk;
  }

  /** Drops everything queued and lets the queue's memory go. */
  protected clear(): void {
    this.#first = undefined;
    this.#more = undefined;
    this.#bytes = 0;
    this.#block = undefined;
    this.#blockUsed = 0;
  }

  /** Appends a short frame to the block. */
  #copyToBlock(bytes: Uint8Array): void {
    const length = bytes.byteLength;
    this.#reserve(length).set(bytes, this.#blockUsed);
    this.#blockUsed += length;
  }

  /** The block, with room for `length` more bytes: grown, or the next one started, as needed. */
  #reserve(length: number): Uint8Array {
    let block = this.#block;
    const used = this.#blockUsed;
    if (block === undefined || used + length > block.byteLength) {
      if (block !== undefined && block.byteLength < MAX_BLOCK && used + length <= MAX_BLOCK) {
        // Doubling keeps a block at most twice what it holds, so a few queued bytes stay cheap.
        const grown = new Uint8Array(
          Math.min(MAX_BLOCK, Math.max(block.byteLength * 2, used + length)),
        );
        grown.set(block.subarray(0, used));
        block = grown;
      } else {
        const full = block !== undefined;
        this.#sealBlock();
        block = new Uint8Array(full ? MAX_BLOCK : Math.max(MIN_BLOCK, length * 2));
      }
      this.#block = block;
    }
    return block;
  }

  /** Appends a chunk. */
  #add(chunk: Uint8Array): void {
    if (this.#first === undefined) this.#first = chunk;
    else if (this.#more === undefined) this.#more = [chunk];
    else this.#more.push(chunk);
  }

  /** Moves the block's bytes to the end of the queue. */
  #sealBlock(): void {
    const block = this.#block;
    if (block !== undefined) {
      this.#add(block.subarray(0, this.#blockUsed));
      this.#block = undefined;
      this.#blockUsed = 0;
    }
  }
}

function concat(first: Uint8Array, more: Uint8Array[], length: number): Uint8Array {
  const out = new Uint8Array(length);
  out.set(first, 0);
  let offset = first.byteLength;
  for (const chunk of more) {
    out.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return out;
}
