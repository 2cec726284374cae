/**
 * What HTTP alone allows on this machine (a reference for bench:server, not a baseline to beat): the
 * same loopback requests as the other servers, answered with a fixed classification after parsing the
 * JSON body, without a model or a tokenizer. The in-process limit has no HTTP, no JSON and no load
 * generator sharing the cores; when this server's throughput is below that limit, no HTTP server can reach
 * it here with one text per request. Env: PORT (0 = any; printed as `listening <port>`).
 */
import { createServer } from 'node:http';

const server = createServer((req, res) => {
  let body = '';
  req.on('data', (chunk: Buffer) => (body += chunk.toString()));
  req.on('end', () => {
    const texts = JSON.parse(body) as string[];
    res.setHeader('content-type', 'application/json');
    res.end(
      JSON.stringify({
        positive: true,
        predictions: texts.map(() => ({ label: 'POSITIVE', score: 0.9, positive: true })),
      }),
    );
  });
});
server.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => {
  const address = server.address();
  console.log(`listening ${typeof address === 'object' && address ? address.port : 0}`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
