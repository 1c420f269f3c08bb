// Integration-client test of the foreign ingest routes: starts the real
// touchlined on a free loopback port, switches it to keys-required (an
// ingest key for the integrations, an admin key for reads) and drives the
// real client libraries against it:
//   1. @segment/analytics-node (host + writeKey only): identify, track,
//      page, an anonymous track, alias, group; Ann's profile then holds her
//      traits and every message once, the anonymous history merged in by
//      the alias.
//   2. A forced retry: a proxy forwards the SDK's first /v1/batch, then
//      drops the connection unanswered; the SDK resends the same messageIds
//      and the timeline holds each message once.
//   3. The write key in the body (no Authorization header): stored; a wrong
//      key gets 401.
//   4. A batch with bad messages among good ones: 200, the bad ones listed
//      in `refused` and by GET /v1/ingest/refusals, the good ones stored.
//   5. The cloudevents SDK: binary and structured mode through its
//      httpTransport, onto Ann's profile; a batch, resent whole, is all
//      duplicates and the timeline does not grow.
//   6. Bad input: each answers 400 (or 415) with an error JSON that says
//      what is wrong.
//
// node integrations_test.mjs --server PATH/touchlined --tlctl PATH/tlctl
// Exit code 0 on success; any failed check throws and exits 1.
import assert from 'node:assert/strict';
import {execFileSync, spawn} from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import {Analytics} from '@segment/analytics-node';
import {CloudEvent, emitterFor, httpTransport, Mode} from 'cloudevents';

function arg(name, fallback) {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : fallback;
}
const serverPath = arg('--server');
const tlctlPath = arg('--tlctl');
assert.ok(serverPath, 'pass --server PATH to touchlined');
assert.ok(tlctlPath, 'pass --tlctl PATH to tlctl');

const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'touchline-integrations-'));
const portFile = path.join(dataDir, 'port');
let server = null;
let serverExit = null;  // set once touchlined has exited
let base = null;
const keys = {ingest: null, ingestName: 'integrations-ingest', read: null};
const closers = [];  // proxies to close at the end

// ---------------------------------------------------------------- helpers

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// One HTTP request to touchline. `body`: a string is sent as is, anything
// else as JSON. Answers {status, type, text, json}.
async function api(method, pathname, {key, headers = {}, body} = {}) {
  const h = {...headers};
  if (key) h.Authorization = `Bearer ${key}`;
  let payload = body;
  if (body !== undefined && typeof body !== 'string') {
    payload = JSON.stringify(body);
    if (!Object.keys(h).some((k) => k.toLowerCase() === 'content-type')) h['Content-Type'] = 'application/json';
  }
  const res = await fetch(base + pathname, {method, headers: h, body: payload});
  const text = await res.text();
  let json = null;
  try {
    json = JSON.parse(text);
  } catch {
    // not JSON: the assertions say so
  }
  return {status: res.status, type: res.headers.get('content-type') ?? '', text, json};
}

const show = (r) => `${r.status} ${r.text.length > 400 ? r.text.slice(0, 400) + '...' : r.text}`;

function assertOk(r, status, what) {
  assert.equal(r.status, status, `${what}: ${show(r)}`);
  assert.ok(r.json, `${what}: the answer is JSON: ${show(r)}`);
  return r.json;
}

// An error answer: the status, and touchline's {"error":{"code","message"}}
// with a message matching `pattern`.
function assertError(r, status, pattern, what) {
  assert.equal(r.status, status, `${what}: expected ${status}, got ${show(r)}`);
  assert.match(r.type, /application\/json/, `${what}: the error is JSON (${r.type})`);
  const err = r.json?.error;
  assert.ok(err && typeof err.code === 'string' && err.code.length > 0, `${what}: error.code: ${show(r)}`);
  assert.ok(typeof err.message === 'string' && err.message.length > 0, `${what}: error.message: ${show(r)}`);
  if (pattern) assert.match(err.message, pattern, `${what}: the message names the problem`);
}

// The ingest answer shared by the Segment and CloudEvents routes.
function assertIngestAnswer(answer, {accepted, duplicates, refused = 0}, what) {
  const s = JSON.stringify(answer);
  assert.equal(answer.success, true, `${what}: success: ${s}`);
  assert.equal(answer.accepted, accepted, `${what}: accepted: ${s}`);
  assert.equal(answer.duplicates, duplicates, `${what}: duplicates: ${s}`);
  assert.ok(Array.isArray(answer.refused), `${what}: refused is a list: ${s}`);
  assert.equal(answer.refused.length, refused, `${what}: refused: ${s}`);
}

// The values of one identity type in a record or a view (a string or a list).
function idValues(identities, type) {
  const v = identities?.[type];
  return v === undefined || v === null ? [] : Array.isArray(v) ? v : [v];
}

// The customer view found by one identity (GET /v1/customers?type=value).
async function lookup(type, value) {
  const r = await api('GET', `/v1/customers?${encodeURIComponent(type)}=${encodeURIComponent(value)}`,
      {key: keys.read});
  return assertOk(r, 200, `lookup ${type}=${value}`);
}

async function lookupStatus(type, value) {
  return (await api('GET', `/v1/customers?${encodeURIComponent(type)}=${encodeURIComponent(value)}`,
      {key: keys.read})).status;
}

// Every event of a customer's timeline (all pages), newest first.
async function timeline(id) {
  const events = [];
  let before = null;
  for (let page = 0; page < 100; page++) {
    const q = `?limit=1000${before === null ? '' : `&before=${before}`}`;
    const r = await api('GET', `/v1/customers/${encodeURIComponent(id)}/timeline${q}`, {key: keys.read});
    const body = assertOk(r, 200, `timeline of ${id}`);
    events.push(...body.events);
    if (body.next === null || body.next === undefined) return events;
    before = body.next;
  }
  assert.fail(`timeline of ${id}: more than 100 pages`);
}

function withId(events, id) {
  return events.filter((e) => e.id === id);
}

function exactlyOnce(events, id, what) {
  const found = withId(events, id);
  assert.equal(found.length, 1, `${what}: event ${id} is on the timeline exactly once (found ${found.length})`);
  return found[0];
}

// The touchline type of a Segment message (the contract's mapping).
function expectedSegmentType(m) {
  switch (m.type) {
    case 'track': return m.event.toLowerCase().replace(/[^a-z0-9_-]+/g, '.');
    case 'page': return 'page.viewed';
    case 'screen': return 'screen.viewed';
    case 'identify': return 'user.identified';
    case 'alias': return 'user.aliased';
    case 'group': return 'group.joined';
    default: throw new Error(`unexpected Segment type ${m.type}`);
  }
}

// An analytics-node client that records what it sent and every delivery
// error it reports.
function segmentClient(host) {
  const client = new Analytics({host, writeKey: keys.ingest, maxRetries: 3});
  const sent = new Map();  // messageId -> message
  const errors = [];
  const statuses = [];
  client.on('error', (e) => errors.push(`${e.code}: ${e.reason?.message ?? e.reason}`));
  client.on('http_request', (req) => {
    for (const m of JSON.parse(req.body).batch) sent.set(m.messageId, m);
  });
  client.on('http_response', (res) => statuses.push(res.status));
  return {client, sent, errors, statuses};
}

// A proxy in front of touchline that forwards the first POST /v1/batch,
// waits for touchline's answer, then destroys the client's connection
// without answering; every later request is proxied normally. `seen` holds
// each request with touchline's answer.
async function startDroppingProxy(upstream) {
  const seen = [];
  let dropped = false;
  const skip = new Set(['host', 'connection', 'content-length', 'transfer-encoding', 'keep-alive']);
  const proxy = http.createServer(async (req, res) => {
    const chunks = [];
    for await (const c of req) chunks.push(c);
    const body = Buffer.concat(chunks);
    const entry = {method: req.method, path: req.url, headers: req.headers, body: body.toString('utf8')};
    seen.push(entry);
    const headers = {};
    for (const [k, v] of Object.entries(req.headers)) if (!skip.has(k)) headers[k] = v;
    try {
      const up = await fetch(upstream + req.url, {method: req.method, headers,
        body: req.method === 'GET' ? undefined : body});
      entry.status = up.status;
      entry.answer = await up.text();
      if (!dropped && req.method === 'POST' && req.url === '/v1/batch') {
        dropped = true;
        entry.dropped = true;
        req.socket.destroy();
        return;
      }
      res.writeHead(up.status, {'Content-Type': up.headers.get('content-type') ?? 'application/json'});
      res.end(entry.answer);
    } catch (e) {
      entry.error = String(e);
      res.writeHead(502, {'Content-Type': 'text/plain'});
      res.end(String(e));
    }
  });
  await new Promise((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  closers.push(() => new Promise((resolve) => {
    proxy.closeAllConnections();
    proxy.close(resolve);
  }));
  return {url: `http://127.0.0.1:${proxy.address().port}`, seen};
}

// ------------------------------------------------------------ the server

async function startServer() {
  server = spawn(serverPath, ['--data-dir', path.join(dataDir, 'data'), '--port', '0',
    '--port-file', portFile, '--log-level', 'warn'], {stdio: ['ignore', 'inherit', 'inherit']});
  server.on('error', (e) => { serverExit = `could not start: ${e.message}`; });
  server.on('exit', (code, signal) => { serverExit = `exited with ${signal ?? code}`; });
  for (let i = 0; i < 200 && !fs.existsSync(portFile) && !serverExit; i++) await sleep(50);
  assert.ok(!serverExit, `touchlined ${serverExit}`);
  assert.ok(fs.existsSync(portFile), 'touchlined did not start (no port file)');
  base = `http://127.0.0.1:${fs.readFileSync(portFile, 'utf8').trim()}`;

  // The first key switches the server to keys-required; it rereads the key
  // file within a second, so wait until it knows both keys.
  const createKey = (name, role) => JSON.parse(execFileSync(tlctlPath,
      ['keys', 'create', '--data-dir', path.join(dataDir, 'data'), '--name', name, '--role', role,
        '--json'], {encoding: 'utf8'})).key;
  keys.ingest = createKey(keys.ingestName, 'ingest');
  keys.read = createKey('integrations-admin', 'admin');
  for (const [key, role] of [[keys.ingest, 'ingest'], [keys.read, 'admin']]) {
    let r = null;
    for (let i = 0; i < 50; i++) {
      r = await api('GET', '/v1/auth/whoami', {key});
      if (r.status === 200) break;
      await sleep(100);
    }
    assert.equal(r.status, 200, `the server knows the ${role} key: ${show(r)}`);
    assert.equal(r.json.role, role);
  }
  const open = await api('GET', '/v1/auth/whoami');
  assert.equal(open.status, 401, `keys are required now: ${show(open)}`);
  console.log(`touchlined at ${base}, keys required`);
}

// ----------------------------------------------------------------- phases

// 1. analytics-node, configured with the host and the write key only.
async function segmentSdk() {
  const {client, sent, errors, statuses} = segmentClient(base);
  client.identify({userId: 'u-ann', traits: {email: 'ann@example.com', name: 'Ann Lee', plan: 'gold'}});
  client.track({userId: 'u-ann', event: 'Order Completed',
    properties: {order_id: 'O-1001', total: 42.5, currency: 'EUR'}});
  client.page({userId: 'u-ann', name: 'Pricing', properties: {url: 'https://shop.example.com/pricing'}});
  // A visitor not yet known as Ann.
  client.track({anonymousId: 'anon-ann', event: 'Product Viewed', properties: {sku: 'SKU-7'}});
  await client.flush();
  assert.deepEqual(errors, [], 'no delivery errors (before the alias)');
  assert.equal(sent.size, 4, 'the SDK sent the first four messages');

  const anonBefore = await lookup('anonymous_id', 'anon-ann');
  const annBefore = await lookup('user_id', 'u-ann');
  assert.notEqual(anonBefore.profile, annBefore.profile, 'before the alias the visitor is someone else');

  client.alias({previousId: 'anon-ann', userId: 'u-ann'});
  // Group traits describe the company, not Ann: they must not become hers.
  client.group({userId: 'u-ann', groupId: 'acme', traits: {name: 'Acme Inc', plan: 'enterprise'}});
  await client.closeAndFlush({timeout: 30000});
  assert.deepEqual(errors, [], 'no delivery errors');
  assert.equal(sent.size, 6, 'the SDK sent six messages');
  assert.ok(statuses.length > 0 && statuses.every((s) => s === 200), `every batch got 200: ${statuses}`);

  // One person, whichever identity finds her.
  const view = await lookup('user_id', 'u-ann');
  assert.equal((await lookup('anonymous_id', 'anon-ann')).profile, view.profile, 'the alias merged the visitor');
  assert.equal((await lookup('email', 'ann@example.com')).profile, view.profile, 'the email finds Ann');
  assert.ok(idValues(view.identities, 'user_id').includes('u-ann'), `user_id: ${JSON.stringify(view.identities)}`);
  assert.ok(idValues(view.identities, 'anonymous_id').includes('anon-ann'),
      `anonymous_id: ${JSON.stringify(view.identities)}`);
  assert.ok(idValues(view.identities, 'email').includes('ann@example.com'),
      `email: ${JSON.stringify(view.identities)}`);
  assert.ok(view.customers.includes('user_id:u-ann') && view.customers.includes('anonymous_id:anon-ann'),
      `streams: ${JSON.stringify(view.customers)}`);
  for (const [k, v] of [['email', 'ann@example.com'], ['name', 'Ann Lee'], ['plan', 'gold']]) {
    assert.equal(view.traits?.[k]?.value, v, `trait ${k}: ${JSON.stringify(view.traits)}`);
  }

  // Every message exactly once, with the contract's type and data.
  const events = await timeline(view.profile);
  const segmentIds = events.filter((e) => e.id?.startsWith('segment:')).map((e) => e.id);
  assert.deepEqual([...segmentIds].sort(), [...sent.keys()].map((m) => `segment:${m}`).sort(),
      'the timeline holds exactly the messages sent');
  const byType = {};
  for (const [mid, m] of sent) {
    const rec = exactlyOnce(events, `segment:${mid}`, `${m.type} ${m.event ?? ''}`);
    assert.equal(rec.type, expectedSegmentType(m), `the type of a ${m.type} message`);
    assert.equal(rec.data?.segment?.type, m.type, `data.segment.type of ${rec.type}`);
    assert.equal(rec.data?.segment?.message_id, mid, `data.segment.message_id of ${rec.type}`);
    assert.equal(rec.data?.segment?.context?.library?.name, '@segment/analytics-node',
        `data.segment.context of ${rec.type} is the SDK's`);
    byType[rec.type] = rec;
  }
  const order = byType['order.completed'];
  assert.equal(order.data.segment.event, 'Order Completed', 'the original event name is kept');
  assert.equal(order.customer, 'user_id:u-ann');
  assert.deepEqual([order.data.order_id, order.data.total, order.data.currency], ['O-1001', 42.5, 'EUR'],
      'the properties are the data');
  const viewed = byType['product.viewed'];
  assert.equal(viewed.data.segment.event, 'Product Viewed');
  assert.equal(viewed.customer, 'anonymous_id:anon-ann', 'the anonymous track is on the visitor\'s stream');
  assert.equal(viewed.data.sku, 'SKU-7');
  assert.equal(byType['page.viewed'].data.url, 'https://shop.example.com/pricing');
  const identified = byType['user.identified'];
  assert.equal(identified.data.traits?.name, 'Ann Lee', 'identify keeps the traits in data.traits');
  assert.ok(idValues(identified.identities, 'email').includes('ann@example.com'), 'the email is an identity');
  const aliased = byType['user.aliased'];
  assert.ok(idValues(aliased.identities, 'user_id').includes('u-ann') &&
      idValues(aliased.identities, 'user_id').includes('anon-ann') &&
      idValues(aliased.identities, 'anonymous_id').includes('anon-ann'),
  `the alias names both ids: ${JSON.stringify(aliased.identities)}`);
  const joined = byType['group.joined'];
  assert.equal(joined.data.group_id, 'acme');
  assert.equal(joined.data.group?.name, 'Acme Inc', 'the group traits are data.group');
  console.log(`phase 1 ok: analytics-node -> ${view.profile} (${sent.size} messages, traits, alias merge)`);
}

// 2. A dropped connection after touchline stored the batch: the SDK
// retries with the same messageIds, and nothing is stored twice.
async function forcedRetry() {
  const proxy = await startDroppingProxy(base);
  const {client, sent, errors} = segmentClient(proxy.url);
  for (const [i, event] of ['Cart Viewed', 'Checkout Started', 'Order Completed'].entries()) {
    client.track({userId: 'u-retry', event, properties: {step: i + 1}});
  }
  await client.closeAndFlush({timeout: 30000});
  assert.deepEqual(errors, [], 'the SDK delivered after its retry');

  const batches = proxy.seen.filter((s) => s.method === 'POST' && s.path === '/v1/batch');
  assert.ok(batches.length >= 2, `the SDK retried: ${batches.length} request(s) to /v1/batch`);
  assert.ok(batches[0].dropped, 'the first request was dropped');
  const ids = (s) => JSON.parse(s.body).batch.map((m) => m.messageId).sort();
  assert.equal(ids(batches[0]).length, 3);
  assert.deepEqual(ids(batches[1]), ids(batches[0]), 'the retry carries the same messageIds');
  assert.equal(batches[1].headers['x-retry-count'], '1', 'the second request is the SDK\'s retry');
  assert.equal(batches[0].status, 200, `touchline answered the dropped request: ${batches[0].answer}`);
  assertIngestAnswer(JSON.parse(batches[0].answer), {accepted: 3, duplicates: 0}, 'the dropped request');
  assert.equal(batches[1].status, 200, `the retry: ${batches[1].answer}`);
  assertIngestAnswer(JSON.parse(batches[1].answer), {accepted: 0, duplicates: 3}, 'the retry');

  const events = await timeline('user_id:u-retry');
  for (const mid of sent.keys()) exactlyOnce(events, `segment:${mid}`, 'after the retry');
  assert.equal(events.filter((e) => e.id?.startsWith('segment:')).length, 3, 'three messages, no more');
  console.log(`phase 2 ok: dropped connection, ${batches.length} requests, each message stored once`);
}

// 3. The write key in the body, as analytics-node 2.x sends it.
async function bodyWriteKey() {
  const batch = [
    {type: 'identify', userId: 'u-carol', messageId: 'carol-1', traits: {email: 'carol@example.com'}},
    {type: 'track', userId: 'u-carol', messageId: 'carol-2', event: 'Signed Up', properties: {plan: 'trial'}},
  ];
  const ok = await api('POST', '/v1/batch', {body: {writeKey: keys.ingest, batch}});
  assertIngestAnswer(assertOk(ok, 200, 'writeKey in the body'), {accepted: 2, duplicates: 0},
      'writeKey in the body');

  const wrong = await api('POST', '/v1/batch', {body: {writeKey: 'not-a-touchline-key',
    batch: [{type: 'track', userId: 'u-carol', messageId: 'carol-wrong', event: 'Signed Up'}]}});
  assertError(wrong, 401, null, 'a wrong writeKey');
  const none = await api('POST', '/v1/batch', {body: {
    batch: [{type: 'track', userId: 'u-carol', messageId: 'carol-none', event: 'Signed Up'}]}});
  assertError(none, 401, null, 'no key at all');

  const events = await timeline('user_id:u-carol');
  exactlyOnce(events, 'segment:carol-1', 'writeKey in the body');
  assert.equal(exactlyOnce(events, 'segment:carol-2', 'writeKey in the body').type, 'signed.up');
  assert.equal(withId(events, 'segment:carol-wrong').length, 0, 'nothing stored under a wrong key');
  assert.equal(withId(events, 'segment:carol-none').length, 0, 'nothing stored without a key');
  console.log('phase 3 ok: writeKey in the body accepted, a wrong one 401');
}

// 4. Bad messages in a batch are refused alone; the rest are stored.
async function partialBatch() {
  const batch = [
    {type: 'track', userId: 'u-dave', messageId: 'dave-1', event: 'Trial Started'},
    {type: 'track', messageId: 'dave-ghost', event: 'Ghost Event'},  // no userId, no anonymousId
    {type: 'identify', userId: 'u-dave', messageId: 'dave-2', traits: {name: 'Dave'}},
    {type: 'track', userId: 'u-dave', messageId: 'dave-nameless'},  // track without event
  ];
  const r = await api('POST', '/v1/batch', {key: keys.ingest, body: {batch}});
  const answer = assertOk(r, 200, 'a batch with bad messages');
  assertIngestAnswer(answer, {accepted: 2, duplicates: 0, refused: 2}, 'a batch with bad messages');
  const refused = Object.fromEntries(answer.refused.map((x) => [x.index, x]));
  assert.equal(refused[1]?.message_id, 'dave-ghost', `refused: ${JSON.stringify(answer.refused)}`);
  assert.match(refused[1].error, /userId|anonymousId/i, 'the refusal says what is missing');
  assert.equal(refused[3]?.message_id, 'dave-nameless', `refused: ${JSON.stringify(answer.refused)}`);
  assert.match(refused[3].error, /event/i, 'the refusal says what is missing');

  const events = await timeline('user_id:u-dave');
  exactlyOnce(events, 'segment:dave-1', 'the good messages of the batch');
  exactlyOnce(events, 'segment:dave-2', 'the good messages of the batch');
  assert.equal(withId(events, 'segment:dave-nameless').length, 0, 'the refused message is not stored');

  // The ingest key sees its own refusals, newest first; admin sees them too.
  const mine = assertOk(await api('GET', '/v1/ingest/refusals', {key: keys.ingest}), 200, 'refusals (ingest)');
  assert.ok(Array.isArray(mine.refusals), `refusals: ${JSON.stringify(mine)}`);
  const ghost = mine.refusals.find((x) => x.message_id === 'dave-ghost');
  assert.ok(ghost, `the refusal is listed: ${JSON.stringify(mine.refusals)}`);
  assert.equal(ghost.index, 1);
  assert.equal(ghost.route, 'POST /v1/batch');
  assert.equal(ghost.actor, keys.ingestName);
  assert.match(ghost.error, /userId|anonymousId/i);
  assert.match(ghost.at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/, `at: ${ghost.at}`);
  assert.ok(Math.abs(Date.parse(ghost.at) - Date.now()) < 10 * 60e3, `at is now: ${ghost.at}`);
  assert.ok(mine.refusals.some((x) => x.message_id === 'dave-nameless' && x.index === 3));
  for (let i = 1; i < mine.refusals.length; i++) {
    assert.ok(Date.parse(mine.refusals[i].at) <= Date.parse(mine.refusals[i - 1].at), 'newest first');
  }
  const all = assertOk(await api('GET', '/v1/ingest/refusals', {key: keys.read}), 200, 'refusals (admin)');
  assert.ok(all.refusals.some((x) => x.message_id === 'dave-ghost'), 'admin sees the refusal');
  console.log('phase 4 ok: bad messages refused alone, listed by /v1/ingest/refusals');
}

// 5. The cloudevents SDK onto Ann's profile; a batch resent whole.
async function cloudEvents() {
  const sink = `${base}/v1/cloudevents`;
  const auth = {headers: {Authorization: `Bearer ${keys.ingest}`}};
  const binary = emitterFor(httpTransport(sink), {mode: Mode.BINARY});
  const structured = emitterFor(httpTransport(sink), {mode: Mode.STRUCTURED});
  // httpTransport answers {body, headers}, without the status.
  const send = async (emit, event, what) => {
    const res = await emit(event, auth);
    let answer = null;
    try {
      answer = JSON.parse(res.body);
    } catch {
      assert.fail(`${what}: the answer is not JSON: ${res.body}`);
    }
    assert.ok(!answer.error, `${what}: ${res.body}`);
    return answer;
  };

  const opened = new CloudEvent({source: '/helpdesk', type: 'com.example.ticket.opened',
    subject: 'user_id:u-ann', channel: 'email', department: 'support', datacontenttype: 'application/json',
    data: {ticket_id: 'T-9', title: 'Refund request'}});
  const first = await send(binary, opened, 'binary mode');
  assertIngestAnswer(first, {accepted: 1, duplicates: 0}, 'binary mode');
  const openedId = first.events?.[0]?.id;
  assert.match(openedId ?? '', /^ce:[0-9a-f]+$/, `binary mode: the event id: ${JSON.stringify(first)}`);
  assert.equal(first.events[0].duplicate, false);
  const again = await send(binary, opened, 'binary mode, resent');
  assertIngestAnswer(again, {accepted: 0, duplicates: 1}, 'binary mode, resent');
  assert.deepEqual([again.events[0].id, again.events[0].seq, again.events[0].duplicate],
      [openedId, first.events[0].seq, true], 'the resend is the same event');

  const mailed = new CloudEvent({source: '/mailer', type: 'com.example.email.sent', subject: 'user_id:u-ann',
    channel: 'email', identities: 'email:ann@example.com', datacontenttype: 'application/json',
    data: {template: 'refund', text: 'Your refund is on its way'}});
  const second = await send(structured, mailed, 'structured mode');
  assertIngestAnswer(second, {accepted: 1, duplicates: 0}, 'structured mode');
  const mailedId = second.events?.[0]?.id;
  assert.match(mailedId ?? '', /^ce:[0-9a-f]+$/, `structured mode: ${JSON.stringify(second)}`);
  // The same id from another source is another event.
  const elsewhere = await send(structured, opened.cloneWith({source: '/helpdesk-eu'}), 'same id, other source');
  assertIngestAnswer(elsewhere, {accepted: 1, duplicates: 0}, 'same id, other source');
  assert.notEqual(elsewhere.events[0].id, openedId, 'source and id together name an event');

  const ann = await lookup('user_id', 'u-ann');
  let events = await timeline(ann.profile);
  const o = exactlyOnce(events, openedId, 'binary mode');
  assert.equal(o.type, 'com.example.ticket.opened');
  assert.equal(o.customer, 'user_id:u-ann', 'the subject names Ann\'s stream');
  assert.equal(o.channel, 'email');
  assert.equal(o.department, 'support');
  assert.equal(o.data.ticket_id, 'T-9', 'the data object is the event data');
  assert.equal(Date.parse(o.time), Date.parse(opened.time), `the event time is the CloudEvent's: ${o.time}`);
  const ce = o.data.cloudevents;
  assert.ok(ce, `data.cloudevents: ${JSON.stringify(o.data)}`);
  assert.deepEqual([ce.source, ce.id, ce.type, ce.subject], ['/helpdesk', opened.id, opened.type, 'user_id:u-ann'],
      `data.cloudevents: ${JSON.stringify(ce)}`);
  assert.match(ce.datacontenttype ?? '', /^application\/json/, `datacontenttype: ${JSON.stringify(ce)}`);
  const m = exactlyOnce(events, mailedId, 'structured mode');
  assert.equal(m.type, 'com.example.email.sent');
  assert.equal(m.channel, 'email');
  assert.equal(m.data.template, 'refund');
  assert.deepEqual([m.data.cloudevents?.source, m.data.cloudevents?.id], ['/mailer', mailed.id]);
  assert.ok(idValues(m.identities, 'email').includes('ann@example.com'),
      `the identities extension: ${JSON.stringify(m.identities)}`);
  assert.ok(idValues(m.identities, 'user_id').includes('u-ann'), 'the subject is an identity');

  // A batch of SDK events, then the same batch again.
  const invoices = [1, 2, 3].map((n) => new CloudEvent({source: '/billing', type: 'com.example.invoice.sent',
    subject: 'user_id:u-ann', channel: 'email', datacontenttype: 'application/json',
    data: {invoice: `INV-${n}`, amount: 10 * n}}));
  const batchBody = JSON.stringify(invoices.map((e) => e.toJSON()));
  const batchHeaders = {'Content-Type': 'application/cloudevents-batch+json; charset=utf-8'};
  const b1 = assertOk(await api('POST', '/v1/cloudevents', {key: keys.ingest, headers: batchHeaders,
    body: batchBody}), 200, 'a batch');
  assertIngestAnswer(b1, {accepted: 3, duplicates: 0}, 'a batch');
  assert.equal(b1.events?.length, 3, `a batch: ${JSON.stringify(b1)}`);
  assert.ok(b1.events.every((e) => /^ce:[0-9a-f]+$/.test(e.id) && e.duplicate === false));
  assert.equal(new Set(b1.events.map((e) => e.id)).size, 3, 'three distinct events');
  events = await timeline(ann.profile);
  const before = events.length;
  for (const e of b1.events) exactlyOnce(events, e.id, 'a batch');
  const b2 = assertOk(await api('POST', '/v1/cloudevents', {key: keys.ingest, headers: batchHeaders,
    body: batchBody}), 200, 'the batch resent');
  assertIngestAnswer(b2, {accepted: 0, duplicates: 3}, 'the batch resent');
  assert.deepEqual(b2.events.map((e) => [e.id, e.seq, e.duplicate]), b1.events.map((e) => [e.id, e.seq, true]),
      'every item of the resent batch is a duplicate of the first');
  events = await timeline(ann.profile);
  assert.equal(events.length, before, 'the timeline did not grow');

  // A bad item in a batch is refused alone.
  const mixed = [new CloudEvent({source: '/billing', type: 'com.example.invoice.paid', subject: 'user_id:u-ann',
    data: {invoice: 'INV-1'}}).toJSON(), {specversion: '1.0', id: 'no-source', type: 'com.example.x'}];
  const b3 = assertOk(await api('POST', '/v1/cloudevents', {key: keys.ingest, headers: batchHeaders,
    body: JSON.stringify(mixed)}), 200, 'a batch with a bad item');
  assertIngestAnswer(b3, {accepted: 1, duplicates: 0, refused: 1}, 'a batch with a bad item');
  assert.equal(b3.refused[0].index, 1);
  assert.match(b3.refused[0].error, /source/i, 'the refusal names the missing attribute');
  console.log(`phase 5 ok: CloudEvents binary, structured and batched onto ${ann.profile}; resend is duplicates`);
}

// 6. Bad input answers 400 (or 415) with a message saying what is wrong.
async function badInput() {
  const ingest = (pathname, body, headers = {}) => api('POST', pathname, {key: keys.ingest, headers, body});
  const ceHeaders = (over) => ({'Content-Type': 'application/json', 'ce-specversion': '1.0', 'ce-id': 'bad-1',
    'ce-source': '/tests', 'ce-type': 'com.example.bad', 'ce-subject': 'user_id:u-bad', ...over});
  const pad = (n) => 'x'.repeat(n);

  const bigBatch = {batch: Array.from({length: 21}, (_, i) => ({type: 'track', userId: 'u-big-batch',
    messageId: `big-${i}`, event: 'Padded', properties: {pad: pad(25 * 1024)}}))};
  assert.ok(JSON.stringify(bigBatch).length > 501 * 1024, 'the big batch is over 500 KB');
  const manyBatch = {batch: Array.from({length: 2501}, (_, i) => ({type: 'track', userId: 'u-many',
    messageId: `many-${i}`, event: 'Tiny'}))};
  assert.ok(JSON.stringify(manyBatch).length < 500 * 1024, 'the 2,501-message batch is under 500 KB');

  const cases = [
    ['invalid JSON', () => ingest('/v1/batch', '{"batch": [', {'Content-Type': 'application/json'}), 400,
      /JSON/i],
    ['a 33 KB track', () => ingest('/v1/track', {userId: 'u-big', messageId: 'big-one', event: 'Padded',
      properties: {pad: pad(33 * 1024)}}), 400, /32|KB|KiB|bytes|large|size/i],
    ['a 501 KB batch', () => ingest('/v1/batch', bigBatch), 400, /500|KB|KiB|bytes|large|size/i],
    ['2,501 messages', () => ingest('/v1/batch', manyBatch), 400, /2,?500|messages/i],
    ['a track without event', () => ingest('/v1/track', {userId: 'u-bad', messageId: 'no-event',
      properties: {a: 1}}), 400, /event/i],
    ['a track without userId or anonymousId', () => ingest('/v1/track', {messageId: 'no-user',
      event: 'Orphan'}), 400, /userId|anonymousId/i],
    ['ce-specversion 0.3', () => ingest('/v1/cloudevents', '{}', ceHeaders({'ce-specversion': '0.3'})), 400,
      /specversion/i],
    ['a binary event without ce-source', () => {
      const h = ceHeaders({});
      delete h['ce-source'];
      return ingest('/v1/cloudevents', '{}', h);
    }, 400, /source/i],
    ['ce-source: %zz', () => ingest('/v1/cloudevents', '{}', ceHeaders({'ce-source': '%zz'})), 400,
      /source|percent|%/i],
    ['a structured event without type', () => ingest('/v1/cloudevents', JSON.stringify({specversion: '1.0',
      id: 'bad-2', source: '/tests', subject: 'user_id:u-bad'}),
    {'Content-Type': 'application/cloudevents+json'}), 400, /type/i],
    ['invalid data_base64', () => ingest('/v1/cloudevents', JSON.stringify({specversion: '1.0', id: 'bad-3',
      source: '/tests', type: 'com.example.bad', subject: 'user_id:u-bad', data_base64: '***not base64***'}),
    {'Content-Type': 'application/cloudevents+json'}), 400, /base64/i],
    ['structured mode that is not JSON', () => ingest('/v1/cloudevents', '{"specversion": ',
      {'Content-Type': 'application/cloudevents+json'}), 400, /JSON/i],
    ['application/xml without ce- headers', () => ingest('/v1/cloudevents', '<event/>',
      {'Content-Type': 'application/xml'}), 415, /content.?type|cloudevents/i],
  ];
  for (const [what, run, status, pattern] of cases) assertError(await run(), status, pattern, what);

  // A request refused whole stored nothing.
  for (const user of ['u-big', 'u-big-batch', 'u-many', 'u-bad']) {
    assert.equal(await lookupStatus('user_id', user), 404, `nothing stored for ${user}`);
  }
  console.log(`phase 6 ok: ${cases.length} bad inputs answered with clear errors`);
}

async function main() {
  await startServer();
  await segmentSdk();
  await forcedRetry();
  await bodyWriteKey();
  await partialBatch();
  await cloudEvents();
  await badInput();
  assert.ok(!serverExit, `touchlined ${serverExit}`);
}

let failed = false;
try {
  await main();
  console.log('integrations test passed');
} catch (e) {
  failed = true;
  console.error(e);
} finally {
  for (const close of closers) await close();
  if (server && !serverExit) {
    const exited = new Promise((r) => server.once('exit', r));
    server.kill('SIGTERM');
    const timer = setTimeout(() => server.kill('SIGKILL'), 15000);
    await exited;
    clearTimeout(timer);
  }
  fs.rmSync(dataDir, {recursive: true, force: true});
}
process.exit(failed ? 1 : 0);
