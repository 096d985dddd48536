/**
 * How error messages show the value they reject.
 *
 * Not exported from the package.
 * @module
 */

/** Shortens a value for an error message, so a 100 MB string never ends up in a log line. */
export function describe(value: unknown): string {
  let text: string;
  // Cut before quoting: quoting a huge string whole costs its size several times over (a lone
  // surrogate becomes a six-character escape), and past V8's longest string it throws.
  if (typeof value === "string")
    text = JSON.stringify(value.length > 60 ? value.slice(0, 60) : value);
  else if (typeof value === "bigint") text = `${value}n`;
  else if (typeof value === "symbol" || typeof value === "function") text = String(value);
  else if (typeof value === "number" || typeof value === "boolean" || value == null) {
    text = String(value);
  } else text = Object.prototype.toString.call(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}
