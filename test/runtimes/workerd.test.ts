import { describeRuntime } from "./describe-runtime.ts";

// workerd (1.20260426, under miniflare 4) does not abort request.signal when an HTTP client
// hangs up, enable_request_signal or not (it does for a service-binding caller, and Cloudflare's
// edge may differ): the stream sees the disconnect on its next write, the keep-alive comment, so
// "close" comes within one keep-alive interval (5 s) instead of at once.
describeRuntime("workerd", { disconnectWithin: 5_000 + 1_000 });
