/**
 * How a Redis store runs its Lua scripts ({@linkcode Scripts}): by SHA, loaded on first use and
 * again after `NOSCRIPT`, each within the store's `timeout`, a failure named after what it did.
 *
 * @module
 */
import type { RedisConnection } from "../redis.ts";
import { Deadlines } from "./deadlines.ts";

/** One store's scripts, on its channel's two keys. */
export class Scripts {
  readonly #connection: RedisConnection;
  readonly #keys: string[];
  readonly #timeout: number;
  readonly #deadlines: Deadlines;
  readonly #shas = new Map<string, Promise<string>>();

  /** `keys`: the channel's meta hash and stream; `timeout`: ms a command may take. */
  constructor(connection: RedisConnection, keys: string[], timeout: number) {
    this.#connection = connection;
    this.#keys = keys;
    this.#timeout = timeout;
    this.#deadlines = new Deadlines(timeout);
  }

  /**
   * Runs `script` with `args` and resolves with its reply.
   *
   * @param action What the script does, for the error message (`append to "room"`).
   * @throws {Error} (rejects) `Cannot <action>: ...` if Redis fails or does not answer in time.
   */
  run(action: string, script: string, args: string[]): Promise<unknown> {
    const command = async (signal: AbortSignal | undefined): Promise<unknown> => {
      const keys = ["2", ...this.#keys];
      let sha = this.#shas.get(script);
      if (sha === undefined) {
        sha = this.#connection.sendCommand(["SCRIPT", "LOAD", script], signal).then(String);
        this.#shas.set(script, sha);
        sha.catch(() => this.#shas.delete(script));
      }
      try {
        return await this.#connection.sendCommand(["EVALSHA", await sha, ...keys, ...args], signal);
      } catch (error) {
        if (!String((error as Error | null)?.message).startsWith("NOSCRIPT")) throw error;
        // Redis restarted and lost its script cache: EVAL loads it again as it runs.
        this.#shas.delete(script);
        return this.#connection.sendCommand(["EVAL", script, ...keys, ...args], signal);
      }
    };
    return this.#deadlines
      .watch(command, `Cannot ${action}: Redis did not answer within ${this.#timeout} ms`)
      .catch((error: unknown) => {
        if (String((error as Error | null)?.message).startsWith("Cannot ")) throw error;
        throw new Error(`Cannot ${action}: ${(error as Error | null)?.message ?? String(error)}`, {
          cause: error,
        });
      });
  }
}
