// compare-app.ts as a module worker, bundled for the runtimes by compare-stream-sse.ts.
import app from "./compare-app.ts";

export default app;
