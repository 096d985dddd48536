/**
 * The parts of the Workers platform that `sendevents/cloudflare` uses, as structural types: the
 * real ones (`SqlStorage`, `DurableObjectState`, `DurableObjectNamespace` of
 * `@cloudflare/workers-types`) are globals that cannot share a program with the DOM's or Node's
 * typings, so the package's own declarations name these instead, and the real objects fit them.
 *
 * Re-exported as types by `adapters/cloudflare.ts`.
 * @module
 */

/** A value SQLite hands back: what `ctx.storage.sql` returns per column. */
export type SqlValue = ArrayBuffer | string | number | null;

/** The cursor `ctx.storage.sql.exec()` returns (a `SqlStorageCursor`). */
export interface SqlCursor {
  /** Every remaining row. */
  toArray(): Record<string, SqlValue>[];
  /** Rows one at a time: stepping stops where the caller stops. */
  [Symbol.iterator](): Iterator<Record<string, SqlValue>>;
}

/** A Durable Object's SQLite storage, `ctx.storage.sql` (a `SqlStorage`). */
export interface SqlStorageLike {
  /** Runs one statement with its `?` bindings. */
  // biome-ignore lint/suspicious/noExplicitAny: the platform's own signature takes any binding.
  exec(query: string, ...bindings: any[]): SqlCursor;
}

/** What a {@linkcode ChannelObject} reads from its `ctx` (a `DurableObjectState`). */
export interface ChannelObjectState {
  /** The object's id; `name` is the one `idFromName` was given. */
  readonly id: { readonly name?: string | undefined; toString(): string };
  readonly storage: {
    readonly sql: SqlStorageLike;
  };
}

/**
 * A Durable Object namespace binding (`env.ROOMS`, a `DurableObjectNamespace`): what
 * {@linkcode routeChannel} needs of it.
 */
export interface ChannelNamespace<Id = unknown> {
  idFromName(name: string): Id;
  // biome-ignore lint/suspicious/noExplicitAny: a stub's fetch takes a Request among others.
  get(id: Id, ...rest: any[]): { fetch(request: Request): Promise<Response> };
}
