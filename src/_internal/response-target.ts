/**
 * Which target feeds an event-stream response, so that an adapter can track the streams it
 * serves (and end the ones it never sent), even in a response that middleware rebuilt around the
 * same body.
 *
 * The target is kept on the body itself, under a module-local symbol, not in a `WeakMap`: under
 * connection churn a long-lived `WeakMap`'s old tables kept every response and target alive
 * through young-generation collections (see `linked-list.ts`). A response whose body is made
 * lazily (the Node adapter's `EventStreamResponse`) carries it on the response as well, so that
 * asking never builds a body.
 *
 * @module
 */

import type { ServerSentEventTarget } from "../server-sent-event-target.ts";

const TARGET = Symbol("sendevents.target");

type Carrier = { [TARGET]?: ServerSentEventTarget };

/** Records that `carrier` (a body, or a response that makes its body lazily) is fed by `target`. */
export function bindTarget(carrier: object, target: ServerSentEventTarget): void {
  (carrier as Carrier)[TARGET] = target;
}

/** The target feeding `response`, if `sendEvents` made it or its body; never builds a body. */
export function targetOf(response: Response): ServerSentEventTarget | undefined {
  const own = (response as Carrier)[TARGET];
  if (own !== undefined) return own;
  // A lazy response unwrapped by middleware has a real body by now; others had one all along.
  return (response.body as Carrier | null)?.[TARGET];
}
