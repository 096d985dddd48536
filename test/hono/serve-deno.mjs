// Serves the bundled test app (path in the first argument) with Deno.serve on a free port.
const { default: app } = await import(new URL(Deno.args[0], "file:///").href);
Deno.serve(
  {
    port: 0,
    hostname: "127.0.0.1",
    onListen: ({ port }) => console.log(`listening on http://127.0.0.1:${port}/`),
  },
  app.fetch,
);
