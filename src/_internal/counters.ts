/**
 * The process-wide counters every stream updates: plain integer fields on one shared object,
 * changed on paths that run anyway, so keeping them costs no allocation and no measurable time.
 * The public, read-only view is `metrics` (`src/metrics.ts`).
 *
 * @module
 */

import type { CloseReason } from "../stream-close-event.ts";

export const counters: {
  open: number;
  opened: number;
  eventsSent: number;
  bytesSent: number;
  queuedBytes: number;
  drops: number;
  closes: Record<CloseReason, number>;
} = {
  open: 0,
  opened: 0,
  eventsSent: 0,
  bytesSent: 0,
  queuedBytes: 0,
  drops: 0,
  closes: { server: 0, client: 0, overflow: 0, error: 0 },
};
