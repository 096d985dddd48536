/**
 * The one check for integer options (sizes, counts, milliseconds), so every option names itself
 * and its range the same way.
 *
 * Not exported from the package.
 * @module
 */
import { describe } from "./describe.ts";

/**
 * The longest delay a timer can be set to: `setTimeout` and `setInterval` take a signed 32-bit
 * count of milliseconds, and every runtime fires a longer one after 1 ms (Node also warns).
 */
export const MAX_DELAY = 2 ** 31 - 1;

/**
 * Returns `value` if it is a safe integer in `[min, max]`.
 *
 * @param alternative What else the option may be, for the message (`"false to send none"`).
 * @throws {RangeError} Naming the option, its range and the value, if it is not.
 */
export function checkInteger(
  action: string,
  name: string,
  value: unknown,
  min: number,
  max: number = Number.MAX_SAFE_INTEGER,
  alternative?: string,
): number {
  if (typeof value === "number" && Number.isSafeInteger(value) && value >= min && value <= max) {
    return value;
  }
  let range: string;
  if (max !== Number.MAX_SAFE_INTEGER) range = `an integer from ${min} to ${max}`;
  else if (min === 0) range = "a non-negative integer";
  else if (min === 1) range = "a positive integer";
  else range = `an integer of at least ${min}`;
  if (alternative !== undefined) range += `, or ${alternative}`;
  throw new RangeError(`${action}: "${name}" must be ${range}, received ${describe(value)}`);
}
