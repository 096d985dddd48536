/**
 * The bytes a stream holds between `dispatch*` and the runtime taking them.
 *
 * Three parts, in the order they leave: chunks (frames queued as they are: a channel's members
 * share one frame), then a block that short frames are copied into once the queue holds many
 * chunks (a queued `Uint8Array` of a stream's own costs some 200 bytes of heap and backing store
 * whatever its length: a stalled client sent tiny events would otherwise hold fifty times its byte
 * bound), then text not yet encoded.
 *
 * The text is what `dispatchMessage` and `dispatchComment` queue: joined as a string, and encoded
 * once, when the runtime takes it (or when a long run of it must be counted exactly). Encoding each
 * frame on its own cost more than everything else a dispatch does (a `TextEncoder` call per frame,
 * measured at 60% of a dispatch on Node 20); joining strings costs a pointer each.
 *
 * Until it is counted, text is known by its UTF-16 code units, which bound its UTF-8 bytes from
 * both sides (at least one byte per unit, at most three). {@linkcode ByteQueue.queuedAtLeast}
 * decides from those bounds, and counts the text only when they cannot decide: the bounds a
 * stream enforces stay exact to the byte, and ASCII (one byte per unit) is always counted exactly.
 * Counting encodes the text, unless the queue is drained by a runtime that writes strings (see
 * {@linkcode ByteQueue.countText}): the text is then counted by the runtime, as a string, and stays
 * one until it is written, as a hand-tuned server's batch does.
 *
 * The queue knows nothing of bounds or of the stream's state: {@linkcode EventStream}, which
 * extends it, decides what may be appended. It keeps its share of the process's `queuedBytes`
 * gauge.
 *
 * @module
 */

import { counters } from "./counters.ts";

/**
 * Frames shorter than this are copied into a block while they wait, rather than queued one object
 * each.
 */
const COPY_BELOW = 1024;
/**
 * Short frames are queued as they are while the queue holds fewer chunks than this: a broadcast
 * shares one frame among its members, and a reference costs a slot where a copy costs a block
 * (allocated, grown and joined). A burst of a hundred events in one turn stays references, joined
 * once by the take (with 64, the frames past it went through a growing block, then the join: a
 * third more time per delivery). Past it the chunks are folded into a block and the frames after
 * them copied there, so that a stalled client sent frames of its own (each some 200 bytes of
 * objects) holds at most this many of them, some 25 KB.
 */
const MAX_SHORT_CHUNKS = 128;
/** The first block's size; each next one doubles, up to {@linkcode MAX_BLOCK}. */
const MIN_BLOCK = 256;
/** The largest block: a stalled queue is a list of blocks this size (plus any long frames). */
const MAX_BLOCK = 16 * 1024;
/**
 * A joined string costs some 60 to 100 bytes of heap per frame beside its characters, which a
 * stalled client sent tiny frames must not multiply: past {@linkcode MIN_TEXT_FRAMES} frames, text
 * whose frames average under {@linkcode SHORT_FRAME} units is encoded. Longer frames stay joined
 * until the runtime takes them (one encoding per hand-over), costing at most about as much again.
 */
const MIN_TEXT_FRAMES = 64;
const SHORT_FRAME = 32;
/**
 * Text this long that is not ASCII is handed to a sink as bytes, not as a string. A write the
 * client does not take at once is held by the runtime until it does: Node holds a string written
 * as UTF-8 through its chunked `writev` as the string itself and a copy of three bytes a unit
 * (measured: a stalled stream held 5 MB for 1 MiB queued, against 2 MB as bytes). ASCII text is
 * written as Latin-1, the same bytes, which Node copies at a byte a unit.
 */
const MAX_TEXT_WRITE = 16 * 1024;

const ENCODER = new TextEncoder();

/**
 * Whether text is encoded straight into the block. On V8 (Node, Deno, Workers) a small `encode()`
 * costs several times an `encodeInto()` (the new `Uint8Array` dominates); on JavaScriptCore (Bun)
 * it is the other way round (measured: V8 1,050 against 275 ns a frame, Bun 305 against 515). Bun
 * says so in `navigator.userAgent`.
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
  /** Bytes in the chunks and the block: exact. */
  #bytes = 0;
  /**
   * Short frames queued after the chunks, copied together; the bytes in use are `#blockUsed`.
   * Joins the chunks when full, before a long frame, or on a take.
   */
  #block: Uint8Array | undefined;
  #blockUsed = 0;
  /**
   * Text queued after the block, not yet encoded: first `#text`, whose UTF-8 bytes are known
   * (`#textBytes`), then `#tail`, not counted yet. `#textFrames` frames joined in all.
   */
  #text = "";
  #textBytes = 0;
  #tail = "";
  #textFrames = 0;

  /**
   * Bytes queued, exactly: text waiting is counted first (as text if `asText`: see
   * {@linkcode ByteQueue.queuedAtLeast}).
   */
  protected queuedExactly(asText: boolean): number {
    if (this.#tail !== "") this.#countTail(asText);
    return this.#bytes + this.#textBytes;
  }

  /**
   * Whether at least `limit` bytes are queued. Decided from the bounds of the text waiting when
   * they suffice (always, for ASCII frames far from `limit`); otherwise the text is counted: by the
   * runtime, as a string, if `asText` and the queue's reader writes strings; else encoded.
   *
   * `asText` is for the stream's `highWaterMark`, where a producer that awaits `ready` stops: text
   * past it is encoded, so that a queue far past the mark holds bytes, not strings (which may take
   * two bytes a unit of memory, where UTF-8 takes one for ASCII).
   */
  protected queuedAtLeast(limit: number, asText = false): boolean {
    const known = this.#bytes + this.#textBytes;
    const units = this.#tail.length;
    if (known + units >= limit) return true;
    if (known + units * 3 < limit) return false;
    this.#countTail(asText);
    return this.#bytes + this.#textBytes >= limit;
  }

  /**
   * The UTF-8 bytes of `text` as the queue's reader counts them, without encoding it; `undefined`
   * if the reader takes bytes (the text is encoded to be counted then). Lone surrogates count as
   * U+FFFD, as `TextEncoder` encodes them.
   */
  protected countText(_text: string): number | undefined {
    return undefined;
  }

  /** Queues `bytes` after what is queued. */
  protected enqueue(bytes: Uint8Array): void {
    if (this.#text !== "" || this.#tail !== "") this.#encodeText();
    const length = bytes.byteLength;
    if (
      length >= COPY_BELOW ||
      (this.#block === undefined && (this.#more?.length ?? 0) < MAX_SHORT_CHUNKS - 1)
    ) {
      // A long frame, or one of a few short ones (a client that keeps up): queued as it is.
      this.#sealBlock();
      this.#add(bytes);
    } else this.#copyToBlock(bytes);
    this.#bytes += length;
    counters.queuedBytes += length;
  }

  /**
   * Queues `text` after what is queued, to be encoded as UTF-8 when it is taken. Lone surrogates
   * become U+FFFD, as `TextEncoder` defines.
   */
  protected enqueueText(text: string): void {
    this.#tail += text;
    // Counted as one byte per unit until counted; `#countTail` adds the difference.
    counters.queuedBytes += text.length;
    const frames = ++this.#textFrames;
    if (frames >= MIN_TEXT_FRAMES && frames * SHORT_FRAME > this.#text.length + this.#tail.length) {
      this.#encodeText();
    }
  }

  /**
   * Queues `text` as {@linkcode ByteQueue.enqueueText} does, and returns whether the queue is now
   * surely under `limit` bytes from the bounds alone: the one check most frames need.
   */
  protected enqueueTextUnder(text: string, limit: number): boolean {
    this.enqueueText(text);
    return this.#bytes + this.#textBytes + this.#tail.length * 3 < limit;
  }

  /**
   * The text queued, and the queue empty, if the queue holds text only (a stream that keeps up with
   * its client) and its reader counts text ({@linkcode ByteQueue.countText}); otherwise
   * `undefined`, and {@linkcode ByteQueue.take} hands over the rest. For a sink that writes
   * strings: the runtime encodes them, without a `Uint8Array` of ours between. Its bytes are then
   * {@linkcode takenTextBytes}, which equal its length exactly when it is ASCII. Text that is not
   * ASCII, of {@linkcode MAX_TEXT_WRITE} units or more, is taken as bytes.
   */
  protected takeText(): string | undefined {
    if (this.#first !== undefined || this.#block !== undefined) return undefined;
    let text = this.#text;
    const tail = this.#tail;
    if (tail !== "") {
      const bytes = this.countText(tail);
      if (bytes === undefined) return undefined;
      this.#keepTail(tail, bytes);
      text = this.#text;
    } else if (text === "") return undefined;
    // Long text that is not ASCII leaves as bytes (see `MAX_TEXT_WRITE`): `take` encodes it.
    if (this.#textBytes !== text.length && text.length >= MAX_TEXT_WRITE) return undefined;
    takenBytes = this.#textBytes;
    counters.queuedBytes -= takenBytes;
    this.#dropText();
    return text;
  }

  /** The UTF-16 units of text queued when the queue holds nothing else; otherwise 0. */
  protected get textOnlyUnits(): number {
    return this.#first === undefined && this.#block === undefined
      ? this.#text.length + this.#tail.length
      : 0;
  }

  /**
   * Queues `text`, whose UTF-8 bytes are `bytes`, after what is queued: a stream's opening comment.
   * Its bytes are known, and a frame that must follow it in bytes takes them, rather than encoding
   * it once per stream (which would cost a broadcast to thousands of unread streams an encoding
   * each).
   */
  protected enqueueEncodedText(text: string, bytes: Uint8Array): void {
    if (this.#text !== "" || this.#tail !== "") {
      this.enqueueText(text);
      return;
    }
    knownText = text;
    knownBytes = bytes;
    this.#text = text;
    this.#textBytes = bytes.byteLength;
    this.#textFrames = 1;
    counters.queuedBytes += bytes.byteLength;
  }

  /** Everything queued as one chunk, and the queue empty; `undefined` when nothing is queued. */
  protected take(): Uint8Array | undefined {
    let chunk: Uint8Array;
    if (this.#first === undefined && this.#block === undefined) {
      // Only text (a stream that keeps up with its client): encoded once, straight to the chunk.
      const head = this.#text;
      const tail = this.#tail;
      if (head === "" && tail === "") return undefined;
      chunk =
        tail === "" && head === knownText
          ? knownBytes!
          : ENCODER.encode(head === "" ? tail : head + tail);
      counters.queuedBytes -= this.#textBytes + tail.length;
      this.#dropText();
    } else {
      if (this.#text !== "" || this.#tail !== "") this.#encodeText();
      this.#sealBlock();
      const more = this.#more;
      chunk = more === undefined ? this.#first! : joined(this.#first!, more, this.#bytes);
      counters.queuedBytes -= this.#bytes;
      this.#first = undefined;
      this.#more = undefined;
      this.#bytes = 0;
    }
    return chunk;
  }

  /** Drops everything queued and lets the queue's memory go. */
  protected clear(): void {
    counters.queuedBytes -= this.#bytes + this.#textBytes + this.#tail.length;
    this.#first = undefined;
    this.#more = undefined;
    this.#bytes = 0;
    this.#block = undefined;
    this.#blockUsed = 0;
    this.#dropText();
  }

  /** Forgets the text waiting (taken, encoded or dropped). */
  #dropText(): void {
    this.#text = "";
    this.#textBytes = 0;
    this.#tail = "";
    this.#textFrames = 0;
  }

  /**
   * Counts the text not counted yet: by the reader, as a string, if `asText` and it can; else by
   * encoding all the text waiting.
   */
  #countTail(asText: boolean): void {
    const tail = this.#tail;
    const bytes = asText ? this.countText(tail) : undefined;
    // Text stays a string only while it is ASCII, a byte a unit in memory as on the wire. Other
    // text may take two bytes a unit as a string (any character past U+00FF makes the whole
    // string so), twice its UTF-8 for mostly-ASCII text: it is held as its bytes instead.
    if (bytes === undefined || bytes !== tail.length) {
      this.#encodeText();
      return;
    }
    this.#keepTail(tail, bytes);
  }

  /**
   * Joins the tail, counted (`bytes`), to the counted text. Counting made the tail one flat string
   * (the runtime flattens it to count it), so that the text holds no more memory than its
   * characters.
   */
  #keepTail(tail: string, bytes: number): void {
    this.#text = this.#text === "" ? tail : this.#text + tail;
    this.#textBytes += bytes;
    this.#tail = "";
    counters.queuedBytes += bytes - tail.length;
  }

  /** Encodes the text waiting onto the end of the queue, and counts its bytes exactly. */
  #encodeText(): void {
    const head = this.#text;
    const tail = this.#tail;
    // What `counters.queuedBytes` holds for it: its known bytes, then a byte per unit.
    const counted = this.#textBytes + tail.length;
    this.#dropText();
    if (tail === "" && head === knownText) {
      // Bytes known already (the opening comment): queued as they are, as any frame's.
      this.#sealBlock();
      this.#add(knownBytes!);
      this.#bytes += knownBytes!.byteLength;
      counters.queuedBytes += knownBytes!.byteLength - counted;
      return;
    }
    const text = head === "" ? tail : head + tail;
    const units = text.length;
    let written: number;
    // UTF-8 takes at most 3 bytes per UTF-16 unit (a surrogate pair: 4 for 2).
    if (ENCODE_INTO && units < COPY_BELOW) {
      const block = this.#reserve(units * 3);
      const used = this.#blockUsed;
      written = ENCODER.encodeInto(text, used === 0 ? block : block.subarray(used)).written;
      this.#blockUsed = used + written;
    } else {
      const bytes = ENCODER.encode(text);
      written = bytes.byteLength;
      if (written >= COPY_BELOW) {
        this.#sealBlock();
        this.#add(bytes);
      } else this.#copyToBlock(bytes);
    }
    this.#bytes += written;
    counters.queuedBytes += written - counted;
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
      } else if (block !== undefined) {
        this.#sealBlock();
        block = new Uint8Array(MAX_BLOCK);
      } else {
        const held = this.#bytes;
        if (held !== 0 && held + length <= MAX_BLOCK) {
          // The chunks queued so far fit in a block (a broadcast's frames past the cap on
          // references, a stream's opening comment before its first text): the block starts with
          // a copy of them, so that each byte is copied once and the take hands over the block as
          // it is, rather than joining chunks and block. Room for as much again as it holds.
          block = new Uint8Array(Math.min(MAX_BLOCK, Math.max(MIN_BLOCK, (held + length) * 2)));
          block.set(this.#first!);
          let offset = this.#first!.byteLength;
          for (const chunk of this.#more ?? []) {
            block.set(chunk, offset);
            offset += chunk.byteLength;
          }
          this.#first = undefined;
          this.#more = undefined;
          this.#blockUsed = held;
        } else block = new Uint8Array(Math.max(MIN_BLOCK, length * 2));
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

  /** Moves the block's bytes to the end of the chunks. */
  #sealBlock(): void {
    const block = this.#block;
    if (block !== undefined) {
      this.#add(block.subarray(0, this.#blockUsed));
      this.#block = undefined;
      this.#blockUsed = 0;
    }
  }
}

/**
 * Text whose bytes are known, and those bytes: a stream's opening comment (see
 * {@linkcode ByteQueue.enqueueEncodedText}). One for every stream, so that a stream holds none.
 */
let knownText: string | undefined;
let knownBytes: Uint8Array | undefined;

/** The bytes of the text the last {@linkcode ByteQueue.takeText} returned. */
let takenBytes = 0;

/** The UTF-8 bytes of the text the last `takeText` returned. */
export function takenTextBytes(): number {
  return takenBytes;
}

/**
 * The last join, kept until the end of the turn: the members of a channel (or any targets sent
 * the same events) queue the very same frames in the same order, and each would join them into
 * the same bytes. Chunks are never written to once queued (shared frames are the events' own,
 * blocks are sealed), so the same chunks, by identity, are the same bytes.
 */
let lastFirst: Uint8Array | undefined;
let lastMore: Uint8Array[] | undefined;
let lastJoined: Uint8Array | undefined;
let forgetting = false;

function forgetJoin(): void {
  forgetting = false;
  lastFirst = undefined;
  lastMore = undefined;
  lastJoined = undefined;
}

/** `first` and `more` as one chunk: the last join's, if it joined the very same chunks. */
function joined(first: Uint8Array, more: Uint8Array[], length: number): Uint8Array {
  if (first === lastFirst && lastJoined!.byteLength === length && sameChunks(more, lastMore!)) {
    return lastJoined!;
  }
  const out = concat(first, more, length);
  lastFirst = first;
  // The queue lets go of `more` when it takes: the array is ours to keep.
  lastMore = more;
  lastJoined = out;
  if (!forgetting) {
    // Nothing outlives the turn: a stream's last join is not kept alive by the cache.
    forgetting = true;
    queueMicrotask(forgetJoin);
  }
  return out;
}

function sameChunks(a: Uint8Array[], b: Uint8Array[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
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
