// The `cloudflare:workers` module as this repository's own programs see it (the DOM and Node
// typings, which cannot share a program with @cloudflare/workers-types' globals). Never
// published: a .d.ts is not emitted, so the package's declarations import "cloudflare:workers"
// and a Workers project resolves it to @cloudflare/workers-types' declaration. `npm run
// test` checks the packed declarations against the real ones, and that the real
// DurableObjectState, SqlStorage and DurableObjectNamespace fit adapters/cloudflare/types.ts
// (test/package-types/workers-consumer.ts).
declare module "cloudflare:workers" {
  import type { ChannelObjectState } from "../cloudflare/types.ts";

  export abstract class DurableObject<Env = unknown> {
    protected ctx: ChannelObjectState;
    protected env: Env;
    constructor(ctx: ChannelObjectState, env: Env);
    fetch?(request: Request): Response | Promise<Response>;
  }
}
