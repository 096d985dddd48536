/** Does nothing: for `.catch(noop)` on a promise whose failure has nowhere to go. */
export function noop(): void {}
