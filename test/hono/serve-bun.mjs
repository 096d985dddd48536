// Serves the bundled test app (path in the first argument) with Bun.serve on a free port.
const { default: app } = await import(process.argv[2]);
const server = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: app.fetch });
console.log(`listening on http://127.0.0.1:${server.port}/`);
