// The test app as a module worker (and the module the Deno and Bun launchers import once bundled).
import { createApp } from "./app.ts";

export default createApp();
