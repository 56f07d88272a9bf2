// Node `ws` peers for tests/interop.rs. One compact JSON object per line on stdout.
//
//   node node_peer.js server --interval MS   the heartbeat pattern from ws's README: ping
//                                            every interval, terminate a client that did
//                                            not answer the previous ping
//   node node_peer.js client --url URL --run-ms MS
'use strict';
const { WebSocket, WebSocketServer } = require('ws');

const start = Date.now();
const emit = (fields) => console.log(JSON.stringify({ ...fields, t_ms: Date.now() - start }));
const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : dflt;
};

if (process.argv[2] === 'server') {
  const interval = Number(arg('interval', '100'));
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 }, () => {
    emit({ event: 'listening', port: wss.address().port });
  });
  wss.on('connection', (ws) => {
    emit({ event: 'connected' });
    ws.isAlive = true;
    ws.pongs = 0;
    ws.on('pong', () => { ws.isAlive = true; ws.pongs += 1; });
    ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
    ws.on('close', (code) => emit({ event: 'closed', code, pongs: ws.pongs }));
  });
  setInterval(() => {
    for (const ws of wss.clients) {
      if (ws.isAlive === false) {
        emit({ event: 'terminated', pongs: ws.pongs });
        ws.terminate();
        continue;
      }
      ws.isAlive = false;
      ws.ping();
    }
  }, interval);
} else {
  const ws = new WebSocket(arg('url'));
  let pings = 0;
  ws.on('open', () => {
    emit({ event: 'connected' });
    setTimeout(() => emit({ event: 'alive', pings }), Number(arg('run-ms', '2000')));
  });
  ws.on('ping', () => { pings += 1; }); // ws answers with a pong by itself
  ws.on('close', (code) => { emit({ event: 'closed', code, pings }); process.exit(0); });
  ws.on('error', (e) => emit({ event: 'error', error: String(e) }));
}
