// Child processes for the proxy benchmark: `upstream` (a tiny JSON API) and `plain` (a
// reverse proxy that checks nothing, piping both ways like egg's). Prints "ready <port>".
import http from 'node:http';

const [role, arg] = process.argv.slice(2);
// With an OpenAI-shaped usage block, which a priced key's requests are charged from.
const body = JSON.stringify({
  ok: true,
  text: 'x'.repeat(200),
  usage: { prompt_tokens: 9, completion_tokens: 50, total_tokens: 59 },
});
let server;
if (role === 'upstream') {
  server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
      res.end(body);
    });
  });
} else {
  const target = new URL(arg);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });
  server = http.createServer((req, res) => {
    const headers = { ...req.headers, host: target.host };
    delete headers.connection;
    const up = http.request(
      { hostname: target.hostname, port: target.port, method: req.method, path: req.url, headers, agent },
      (r) => {
        res.writeHead(r.statusCode ?? 502, r.headers);
        r.pipe(res);
      },
    );
    up.on('error', () => {
      res.statusCode = 502;
      res.end();
    });
    req.pipe(up);
  });
}
server.keepAliveTimeout = 5000;
server.listen(0, '127.0.0.1', () => process.stdout.write(`ready ${server.address().port}\n`));
