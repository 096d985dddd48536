import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";

setFlagsFromString("--expose-gc");
const collect = runInNewContext("gc") as () => void;

/**
 * Bytes the process holds after full collections: the JavaScript heap plus the `ArrayBuffer`s
 * (an event's encoded bytes live there, outside the heap). For leak tests: compare two readings.
 */
export async function heldBytes(): Promise<number> {
  for (let i = 0; i < 3; i++) {
    collect();
    // Let finalizers and weak callbacks run between collections.
    await new Promise((resolve) => setImmediate(resolve));
  }
  const { heapUsed, arrayBuffers } = process.memoryUsage();
  return heapUsed + arrayBuffers;
}

/** Runs a full collection now and lets finalization callbacks run. */
export async function collectGarbage(): Promise<void> {
  await heldBytes();
}

export const MB = 1024 * 1024;
