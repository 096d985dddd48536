/**
 * A raw HTTP/1.x client over `node:net`, for what real clients hide: pipelined requests, exact
 * header bytes, a connection that ends (or not) after the response.
 */
import { connect, type Socket } from "node:net";

/** One raw connection to 127.0.0.1 and everything it received. */
export class RawConnection {
  readonly socket: Socket;
  /** Everything received so far, as latin1. */
  text = "";
  /** Resolves when the socket has closed (by either side). */
  readonly closed: Promise<void>;
  /** Whether the server ended or reset the connection (not the client). */
  closedByServer = false;
  #waiters = new Set<() => void>();

  constructor(port: number, request?: string | Buffer) {
    this.socket = connect(port, "127.0.0.1");
    this.socket.on("error", () => {
      // A reset: `closed` tells.
    });
    this.socket.on("data", (chunk: Buffer) => {
      this.text += chunk.toString("latin1");
      for (const waiter of this.#waiters) waiter();
    });
    this.socket.on("end", () => {
      this.closedByServer = true;
    });
    this.closed = new Promise((resolve) =>
      this.socket.once("close", () => {
        for (const waiter of this.#waiters) waiter();
        resolve();
      }),
    );
    if (request !== undefined) this.socket.write(request);
  }

  /** Resolves once the text received satisfies `predicate`, or rejects after `ms`. */
  until(predicate: (text: string) => boolean, ms = 5000): Promise<string> {
    return new Promise((resolve, reject) => {
      const check = (): void => {
        if (predicate(this.text)) {
          done();
          resolve(this.text);
        } else if (this.socket.destroyed) {
          done();
          reject(new Error(`Connection closed; received: ${JSON.stringify(this.text)}`));
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`Timed out; received: ${JSON.stringify(this.text)}`));
      }, ms);
      const done = (): void => {
        clearTimeout(timer);
        this.#waiters.delete(check);
      };
      this.#waiters.add(check);
      check();
    });
  }

  /** Whether the socket closes within `ms`. */
  async closesWithin(ms: number): Promise<boolean> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const result = await Promise.race([
      this.closed.then(() => true),
      new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(false), ms);
      }),
    ]);
    clearTimeout(timer);
    return result;
  }

  destroy(): void {
    this.socket.destroy();
  }
}

/** The head of the first response in `text`: status line and header lines. */
export function headOf(text: string): string {
  const end = text.indexOf("\r\n\r\n");
  return end < 0 ? text : text.slice(0, end);
}

/** The value of header `name` in the head of the first response, or `undefined`. */
export function headerOf(text: string, name: string): string | undefined {
  for (const line of headOf(text).split("\r\n").slice(1)) {
    const colon = line.indexOf(":");
    if (line.slice(0, colon).toLowerCase() === name) return line.slice(colon + 1).trim();
  }
  return undefined;
}

/** A GET request in origin-form. */
export function get(path = "/", extra: string[] = [], version = "1.1"): string {
  return [`GET ${path} HTTP/${version}`, "Host: 127.0.0.1", ...extra, "", ""].join("\r\n");
}

/** The body of the first response in `text`, its chunked transfer coding undone if it has one. */
export function bodyOf(text: string): string {
  let rest = text.slice(text.indexOf("\r\n\r\n") + 4);
  if (!/^transfer-encoding: *chunked$/im.test(headOf(text))) return rest;
  let body = "";
  for (;;) {
    const line = rest.indexOf("\r\n");
    const size = Number.parseInt(rest.slice(0, line), 16);
    if (!(size > 0)) return body;
    body += rest.slice(line + 2, line + 2 + size);
    rest = rest.slice(line + 4 + size);
  }
}
