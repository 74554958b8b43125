// Baseline peer for bench/ws_bench.sh: the npm `ws` package (the most used
// Node.js WebSocket server) echoing every text message back, on one port.
// Usage: node server.js PORT
'use strict';
const { WebSocketServer } = require('ws');
const port = Number(process.argv[2] || 9001);
const wss = new WebSocketServer({ host: '127.0.0.1', port, perMessageDeflate: false });
wss.on('connection', (ws) => {
  ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
});
wss.on('listening', () => console.log(`ws echo listening on 127.0.0.1:${port}`));
process.on('SIGTERM', () => process.exit(0));
process.on('SIGINT', () => process.exit(0));
