// Integration test of webhook sinks (POST /v1/sinks): the real touchlined on
// a loopback port delivers to a receiver written the way an integrator would
// write one, with the npm `cloudevents` SDK (HTTP.toEvent) to parse and the
// Standard Webhooks library (`standardwebhooks`) to verify signatures:
//   1. Access and bad input: sinks are admin-only; every malformed
//      definition gets 400 naming the field; the secret is shown once.
//   2. A batch-mode sink with the OPTIONS handshake; touchline is killed
//      with SIGKILL while the receiver holds one of its requests, and
//      restarted: the receiver has every matching event at least once, in
//      seq order, none missing, and every request verified.
//   3. A 503 with Retry-After, then 200: the same request (webhook-id)
//      again, no sooner than asked.
//   4. A 410 disables the sink; nothing is sent until it is resumed.
//   5. A structured-mode sink replayed after an erasure: the erased
//      customer's events go out erased.
//   6. https://: a receiver whose certificate the server trusts
//      (--webhook-ca-file) gets its events; one it does not trust, and one
//      whose trusted certificate names another address, get nothing, and
//      the sink's last error says why.
//
// node sinks_test.mjs --server PATH/touchlined --tlctl PATH/tlctl
// Exit code 0 on success; any failed check throws and exits 1.
import assert from 'node:assert/strict';
import {execFileSync, spawn} from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import {HTTP} from 'cloudevents';
import {Webhook} from 'standardwebhooks';

function arg(name) {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}
const serverPath = arg('--server');
const tlctlPath = arg('--tlctl');
assert.ok(serverPath, 'pass --server PATH to touchlined');
assert.ok(tlctlPath, 'pass --tlctl PATH to tlctl');

const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'touchline-sinks-'));
const portFile = path.join(dataDir, 'port');
let server = null;
let serverExit = null;
let base = null;
const keys = {admin: null, ingest: null};
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function api(method, pathname, {key = keys.admin, headers = {}, body} = {}) {
  const h = {...headers};
  if (key) h.Authorization = `Bearer ${key}`;
  let payload = body;
  if (body !== undefined && typeof body !== 'string') {
    payload = JSON.stringify(body);
    h['Content-Type'] ??= 'application/json';
  }
  const res = await fetch(base + pathname, {method, headers: h, body: payload});
  const text = await res.text();
  let json = null;
  try {
    json = JSON.parse(text);
  } catch {
    // not JSON: the assertions say so
  }
  return {status: res.status, text, json};
}
const show = (r) => `${r.status} ${r.text.slice(0, 400)}`;

async function eventually(what, check, ms = 20000) {
  const until = Date.now() + ms;
  let last;
  while (Date.now() < until) {
    last = await check();
    if (last) return last;
    await sleep(50);
  }
  assert.fail(`timed out waiting for ${what}`);
}

async function startServer() {
  fs.rmSync(portFile, {force: true});
  serverExit = null;
  server = spawn(serverPath, ['--data-dir', path.join(dataDir, 'data'), '--port', '0',
    '--port-file', portFile, '--log-level', 'warn', '--sink-origin', 'touchline.test',
    '--webhook-ca-file', path.join(dataDir, 'ca.pem')],
  {stdio: ['ignore', 'inherit', 'inherit']});
  server.on('exit', (code, signal) => { serverExit = `exited with ${signal ?? code}`; });
  for (let i = 0; i < 200 && !fs.existsSync(portFile) && !serverExit; i++) await sleep(50);
  assert.ok(fs.existsSync(portFile), `touchlined did not start (${serverExit})`);
  base = `http://127.0.0.1:${fs.readFileSync(portFile, 'utf8').trim()}`;
}

async function stopServer(signal) {
  const exited = new Promise((r) => server.once('exit', r));
  server.kill(signal);
  await exited;
}

// ------------------------------------------------------------- receiver

// Verifies and parses every request; `answer` decides each response.
class Receiver {
  constructor() {
    this.secrets = new Map();  // path -> whsec_
    this.requests = [];        // {path, webhookId, at, events}
    this.failures = [];        // verification or parse errors
    this.handshakes = [];
    this.script = new Map();   // path -> [{status, headers}] for the next POSTs
    this.delayMs = 0;
  }
  // `tls`: {key, cert} to serve https.
  async start(tls) {
    const handler = (req, res) => {
      const chunks = [];
      req.on('data', (c) => chunks.push(c));
      req.on('end', () => this.handle(req, res, Buffer.concat(chunks).toString('utf8')));
    };
    this.server = tls ? https.createServer(tls, handler) : http.createServer(handler);
    await new Promise((r) => this.server.listen(0, '127.0.0.1', r));
    this.url = `${tls ? 'https' : 'http'}://127.0.0.1:${this.server.address().port}`;
  }
  async handle(req, res, body) {
    if (req.method === 'OPTIONS') {
      this.handshakes.push({path: req.url, origin: req.headers['webhook-request-origin']});
      res.writeHead(200, {'WebHook-Allowed-Origin': req.headers['webhook-request-origin'] ?? '*',
        'WebHook-Allowed-Rate': '*'});
      return res.end();
    }
    const scripted = this.script.get(req.url)?.shift();
    if (this.delayMs) await sleep(this.delayMs);
    // A hook may kill the server before this request is answered.
    const killed = this.beforeAnswer ? await this.beforeAnswer(req.url) : false;
    let events = [];
    try {
      new Webhook(this.secrets.get(req.url)).verify(body, {
        'webhook-id': req.headers['webhook-id'],
        'webhook-timestamp': req.headers['webhook-timestamp'],
        'webhook-signature': req.headers['webhook-signature'],
      });
      const parsed = HTTP.toEvent({headers: req.headers, body});
      events = Array.isArray(parsed) ? parsed : [parsed];
    } catch (e) {
      this.failures.push(`${req.url}: ${e.message}`);
    }
    this.requests.push({path: req.url, webhookId: req.headers['webhook-id'], at: Date.now(),
      status: killed ? 599 : scripted?.status ?? 200, events});
    res.writeHead(scripted?.status ?? 200, scripted?.headers ?? {});
    res.end();
  }
  // Events of accepted requests to `p`, in arrival order.
  accepted(p) {
    return this.requests.filter((r) => r.path === p && r.status < 300).flatMap((r) => r.events);
  }
}

// ---------------------------------------------------------------- phases

async function createSink(receiver, body) {
  const r = await api('POST', '/v1/sinks', {body});
  assert.equal(r.status, 201, `create ${body.id}: ${show(r)}`);
  assert.match(r.json.secret, /^whsec_[A-Za-z0-9+/=]+$/);
  receiver.secrets.set(new URL(body.url).pathname, r.json.secret);
  return r.json;
}

async function ingest(events) {
  const r = await api('POST', '/v1/events', {key: keys.ingest, body: events});
  assert.equal(r.status, 201, `ingest: ${show(r)}`);
  return r.json.events.map((e) => e.seq);
}

async function accessAndBadInput(receiver) {
  const asIngest = await api('POST', '/v1/sinks', {key: keys.ingest,
    body: {id: 'x', url: `${receiver.url}/x`}});
  assert.equal(asIngest.status, 403, `an ingest key may not create sinks: ${show(asIngest)}`);
  const bad = [
    [{url: `${receiver.url}/x`}, 400, /id: is required/],
    [{id: 'x'}, 400, /url: is required/],
    [{id: 'x', url: 'ftp://example.com/'}, 400, /http:\/\/ or https:\/\//],
    [{id: 'x', url: `${receiver.url}/x`, mode: 'batch', batch_size: 0}, 400, /batch_size/],
    [{id: 'x', url: `${receiver.url}/x`, filter: {types: ['Not A Type']}}, 400, /filter\.types\[0\]/],
    [{id: 'x', url: `${receiver.url}/x`, start: -1}, 400, /start/],
    ['{"id":', 400, /not valid JSON/],
  ];
  for (const [body, status, message] of bad) {
    const r = await api('POST', '/v1/sinks', {body, headers: {'Content-Type': 'application/json'}});
    assert.equal(r.status, status, `${JSON.stringify(body)}: ${show(r)}`);
    assert.match(r.json?.error?.message ?? '', message, show(r));
  }
  const wrongType = await api('POST', '/v1/sinks', {headers: {'Content-Type': 'text/plain'},
    body: '{}'});
  assert.equal(wrongType.status, 415, show(wrongType));
  assert.equal((await api('GET', '/v1/sinks/none')).status, 404);
  assert.equal((await api('DELETE', '/v1/sinks/none')).status, 404);
  console.log('access and bad input: ok');
}

// Batch mode with the handshake; SIGKILL mid-delivery; restart.
async function crashMidDelivery(receiver) {
  // The events first; the sink then delivers them from the beginning.
  const expected = [];
  for (let b = 0; b < 10; b++) {
    const events = [];
    for (let i = 0; i < 200; i++) {
      const n = b * 200 + i;
      events.push({customer: `c-${n % 37}`, type: n % 3 === 0 ? 'note.added' : 'order.placed',
        data: {n}});
    }
    const seqs = await ingest(events);
    events.forEach((e, i) => { if (e.type === 'order.placed') expected.push(seqs[i]); });
  }
  receiver.delayMs = 30;  // ~30 requests of 50: about a second of delivery
  const sink = await createSink(receiver, {id: 'orders', url: `${receiver.url}/orders`,
    mode: 'batch', batch_size: 50, handshake: true, filter: {types: ['order']},
    start: 'beginning'});
  assert.equal(sink.sink.handshake, true);
  const listed = await api('GET', '/v1/sinks');
  assert.equal(listed.status, 200);
  assert.ok(!listed.text.includes(sink.secret), 'the secret is never shown again');
  // touchline is killed while the receiver holds the 3rd request from
  // now: that request is never acknowledged.
  let posts = 0;
  let killedAt = null;
  receiver.beforeAnswer = async (p) => {
    if (p !== '/orders' || ++posts !== 3) return false;
    killedAt = receiver.accepted('/orders').length;
    await stopServer('SIGKILL');
    return true;
  };
  await eventually('the kill', () => killedAt !== null && serverExit !== null);
  receiver.beforeAnswer = null;
  receiver.delayMs = 0;
  const before = killedAt;
  assert.ok(before < expected.length, `killed mid-delivery (${before} of ${expected.length})`);
  await startServer();
  await eventually('every order event', () =>
    new Set(receiver.accepted('/orders').map((e) => Number(e.seq))).size === expected.length);

  const got = receiver.accepted('/orders').map((e) => Number(e.seq));
  const firsts = [...new Set(got)];
  assert.deepEqual(firsts, expected, 'every matching event, first seen in seq order, none missing');
  for (const r of receiver.requests.filter((q) => q.path === '/orders')) {
    const seqs = r.events.map((e) => Number(e.seq));
    assert.deepEqual(seqs, [...seqs].sort((a, b) => a - b), 'each request is in seq order');
  }
  assert.deepEqual(receiver.failures, [], 'every request verified and parsed');
  assert.ok(receiver.handshakes.length >= 2, 'the handshake, before and after the restart');
  assert.equal(receiver.handshakes[0].origin, 'touchline.test');
  const e = receiver.accepted('/orders')[0];
  assert.equal(e.type, 'order.placed');
  assert.equal(e.specversion, '1.0');
  assert.ok(e.source.startsWith('urn:touchline:'), e.source);
  assert.match(e.subject, /^c-\d+$/);
  assert.equal(typeof e.data.n, 'number');
  const info = await eventually('the cursor at the head', async () => {
    const r = await api('GET', '/v1/sinks/orders');
    return r.json.sink.lag_events === 0 ? r.json.sink : null;
  });
  assert.ok(info.delivered_events >= expected.length, JSON.stringify(info));
  console.log(`crash mid-delivery: ${before} of ${expected.length} before SIGKILL, ` +
      `${got.length} deliveries after the restart (${got.length - expected.length} repeated)`);
}

async function retryAfter(receiver) {
  receiver.script.set('/orders', [{status: 503, headers: {'Retry-After': '1'}}]);
  const [seq] = await ingest([{customer: 'c-1', type: 'order.placed', data: {retry: true}}]);
  await eventually('the retried request', () =>
    receiver.accepted('/orders').some((e) => Number(e.seq) === seq));
  const tries = receiver.requests.filter((r) => r.events.some((e) => Number(e.seq) === seq));
  assert.equal(tries.length, 2, 'one 503, one 200');
  assert.equal(tries[0].status, 503);
  assert.equal(tries[0].webhookId, tries[1].webhookId, 'the same request again');
  assert.ok(tries[1].at - tries[0].at >= 950, `after Retry-After (${tries[1].at - tries[0].at} ms)`);
  const info = (await api('GET', '/v1/sinks/orders')).json.sink;
  assert.equal(info.last_error.status, 503);
  assert.ok(info.failed_requests >= 1);
  console.log('503 with Retry-After, then 200: ok');
}

async function gone(receiver) {
  receiver.script.set('/orders', [{status: 410}]);
  const [seq] = await ingest([{customer: 'c-2', type: 'order.placed', data: {gone: true}}]);
  const info = await eventually('the sink disabled', async () => {
    const r = await api('GET', '/v1/sinks/orders');
    return r.json.sink.status === 'disabled' ? r.json.sink : null;
  });
  assert.match(info.disabled_reason, /410/);
  const count = receiver.requests.length;
  await ingest([{customer: 'c-2', type: 'order.placed', data: {later: true}}]);
  await sleep(700);
  assert.equal(receiver.requests.length, count, 'nothing is sent to a disabled sink');
  const resumed = await api('POST', '/v1/sinks/orders/resume');
  assert.equal(resumed.status, 200, show(resumed));
  await eventually('delivery after resume', () =>
    receiver.accepted('/orders').some((e) => Number(e.seq) === seq));
  console.log('410 disables, resume delivers: ok');
}

async function erasedGoOutErased(receiver) {
  const [seq] = await ingest([{customer: 'erase-me', type: 'profile.updated',
    identities: {email: 'gone@example.com'}, data: {name: 'Someone Private'}}]);
  await createSink(receiver, {id: 'people', url: `${receiver.url}/people`,
    filter: {customers: ['erase-me']}, start: seq});
  await eventually('the event', () => receiver.accepted('/people').length === 1);
  assert.equal(receiver.accepted('/people')[0].data.name, 'Someone Private');
  const erased = await api('POST', '/v1/customers/erase-me/erase');
  assert.equal(erased.status, 200, show(erased));
  const replay = await api('POST', '/v1/sinks/people/replay', {body: {from_seq: seq}});
  assert.equal(replay.status, 200, show(replay));
  assert.equal(replay.json.sink.replays, 1);
  const badReplay = await api('POST', '/v1/sinks/people/replay', {body: {from: 1}});
  assert.equal(badReplay.status, 400, show(badReplay));
  await eventually('the replay', () =>
    receiver.accepted('/people').filter((e) => Number(e.seq) === seq).length === 2);
  const again = receiver.accepted('/people').filter((e) => Number(e.seq) === seq)[1];
  assert.equal(again.erased, true);
  assert.equal(again.data, undefined);
  assert.equal(again.identities, undefined);
  const raw = receiver.requests.filter((r) => r.path === '/people').at(-1);
  assert.ok(!JSON.stringify(raw.events).includes('Someone Private'));
  assert.deepEqual(receiver.failures, []);
  const deleted = await api('DELETE', '/v1/sinks/people');
  assert.equal(deleted.status, 200, show(deleted));
  console.log('erased events go out erased: ok');
}

// A self-signed certificate for 127.0.0.1, made for this test.
function selfSigned(name, address = '127.0.0.1') {
  const key = path.join(dataDir, `${name}.key`);
  const cert = path.join(dataDir, `${name}.pem`);
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt',
    'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1', '-subj', `/CN=${address}`,
    '-addext', `subjectAltName=IP:${address}`, '-keyout', key, '-out', cert], {stdio: 'ignore'});
  return {key: fs.readFileSync(key), cert: fs.readFileSync(cert)};
}

async function overHttps(trusted, untrusted, misnamed) {
  await createSink(trusted, {id: 'secure', url: `${trusted.url}/secure`});
  await createSink(untrusted, {id: 'stranger', url: `${untrusted.url}/stranger`});
  const [seq] = await ingest([{customer: 'c-tls', type: 'order.placed', data: {tls: true}}]);
  await eventually('the event over https', () =>
    trusted.accepted('/secure').some((e) => Number(e.seq) === seq));
  assert.deepEqual(trusted.failures, [], 'verified and parsed over https');
  const info = await eventually('the untrusted receiver refused', async () => {
    const r = await api('GET', '/v1/sinks/stranger');
    return r.json.sink.last_error ? r.json.sink : null;
  });
  assert.match(info.last_error.message, /TLS handshake|certificate/i, JSON.stringify(info));
  assert.equal(info.delivered_events, 0);
  assert.equal(untrusted.requests.length, 0, 'nothing reached a receiver the server does not trust');
  // A certificate the server trusts, but for another address.
  await createSink(misnamed, {id: 'misnamed', url: `${misnamed.url}/misnamed`});
  await ingest([{customer: 'c-tls', type: 'order.placed', data: {tls: 'again'}}]);
  const wrong = await eventually('the misnamed receiver refused', async () => {
    const r = await api('GET', '/v1/sinks/misnamed');
    return r.json.sink.last_error ? r.json.sink : null;
  });
  assert.match(wrong.last_error.message, /certificate verify failed/i, JSON.stringify(wrong));
  assert.equal(misnamed.requests.length, 0, 'nothing reached a receiver with the wrong name');
  console.log(`https: delivered to a trusted receiver; an untrusted one: ${info.last_error.message}`);
}

// ------------------------------------------------------------------ main

const receiver = new Receiver();
const trusted = new Receiver();
const untrusted = new Receiver();
const misnamed = new Receiver();
try {
  await receiver.start();
  const tls = selfSigned('trusted');
  await trusted.start(tls);
  await untrusted.start(selfSigned('untrusted'));
  const other = selfSigned('misnamed', '127.0.0.2');  // trusted, but not for 127.0.0.1
  await misnamed.start(other);
  fs.writeFileSync(path.join(dataDir, 'ca.pem'), Buffer.concat([tls.cert, other.cert]));
  await startServer();
  const createKey = (name, role) => JSON.parse(execFileSync(tlctlPath,
      ['keys', 'create', '--data-dir', path.join(dataDir, 'data'), '--name', name, '--role', role,
        '--json'], {encoding: 'utf8'})).key;
  keys.admin = createKey('sinks-admin', 'admin');
  keys.ingest = createKey('sinks-ingest', 'ingest');
  await eventually('the keys', async () =>
    (await api('GET', '/v1/auth/whoami', {key: keys.ingest})).status === 200);
  await accessAndBadInput(receiver);
  await crashMidDelivery(receiver);
  await retryAfter(receiver);
  await gone(receiver);
  await erasedGoOutErased(receiver);
  await overHttps(trusted, untrusted, misnamed);
  console.log('sinks test passed');
} finally {
  if (server && !serverExit) await stopServer('SIGTERM');
  for (const r of [receiver, trusted, untrusted, misnamed]) r.server?.close();
  fs.rmSync(dataDir, {recursive: true, force: true});
}
