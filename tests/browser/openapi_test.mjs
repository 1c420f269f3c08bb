// Contract test of api/openapi.json against the real server:
//   1. `@redocly/cli lint` (recommended rules) passes on the file;
//   2. GET /v1/openapi.json serves that file;
//   3. every operation it describes is called on a running touchlined
//      with keys required, and each answer's status must be one the
//      operation documents and its JSON body must validate (ajv, JSON
//      Schema 2020-12) against the documented schema; the test fails if
//      any operation was not exercised. Error answers (400, 401, 403,
//      404, 409, 415) are validated too, against the shared Error schema.
// The route table itself is compared with the file by the C++ test
// RouterTest.TheOpenApiDescriptionMatchesTheRouteTable.
//
// node openapi_test.mjs --server PATH/touchlined --tlctl PATH/tlctl
import assert from 'node:assert/strict';
import {execFileSync, spawn} from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import {fileURLToPath} from 'node:url';
import Ajv2020 from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';

const here = path.dirname(fileURLToPath(import.meta.url));
const specPath = path.join(here, '..', '..', 'api', 'openapi.json');
function arg(name) {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}
const serverPath = arg('--server');
const tlctlPath = arg('--tlctl');
assert.ok(serverPath && tlctlPath, 'pass --server PATH and --tlctl PATH');

const spec = JSON.parse(fs.readFileSync(specPath, 'utf8'));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ------------------------------------------------------------- 1. lint

execFileSync(path.join(here, 'node_modules', '.bin', 'redocly'), ['lint', specPath],
    {stdio: ['ignore', 'inherit', 'inherit'], env: {...process.env, REDOCLY_TELEMETRY: 'off',
      REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true'}});
console.log('redocly lint: ok');

// ----------------------------------------------------------- validation

const ajv = new Ajv2020({strict: false, allErrors: true});
addFormats(ajv);
ajv.addSchema(spec, 'openapi.json');
const escape = (s) => s.replaceAll('~', '~0').replaceAll('/', '~1');

// Operations as [method, template, regex].
const operations = [];
for (const [template, item] of Object.entries(spec.paths)) {
  for (const method of Object.keys(item)) {
    if (!['get', 'put', 'post', 'delete', 'options', 'patch', 'head'].includes(method)) continue;
    const re = new RegExp('^' + template.replace(/\{[^}]+\}/g, '[^/]+') + '$');
    operations.push({method: method.toUpperCase(), template, re});
  }
}
const covered = new Set();

// The response object an operation documents for `status`, and the JSON
// pointer where it lives (a $ref'd one lives in components.responses).
function responseObject(op, status) {
  let pointer = `/paths/${escape(op.template)}/${op.method.toLowerCase()}/responses/${status}`;
  let r = spec.paths[op.template][op.method.toLowerCase()].responses[String(status)];
  if (r?.$ref) {
    pointer = r.$ref.slice(1);
    r = pointer.split('/').slice(1)
        .reduce((o, k) => o[k.replaceAll('~1', '/').replaceAll('~0', '~')], spec);
  }
  return r ? {response: r, pointer} : null;
}

// Checks one answer against its operation; returns the parsed body.
function validate(method, pathname, status, contentType, text) {
  const op = operations.find((o) => o.method === method && o.re.test(pathname));
  assert.ok(op, `${method} ${pathname} is not in api/openapi.json`);
  const found = responseObject(op, status);
  assert.ok(found, `${method} ${op.template} answered ${status}, which it does not document: ${text.slice(0, 300)}`);
  const {response, pointer} = found;
  covered.add(`${op.method} ${op.template}`);
  const media = (contentType ?? '').split(';')[0].trim();
  if (!response.content) {
    assert.equal(text, '', `${method} ${op.template} ${status} documents no body`);
    return null;
  }
  assert.ok(response.content[media], `${method} ${op.template} ${status}: content type ${media} is not documented (${Object.keys(response.content)})`);
  if (media === 'application/x-ndjson') {
    // Each line one JSON value (records; the export's header and lines).
    for (const line of text.split('\n').filter(Boolean)) JSON.parse(line);
    return text;
  }
  if (media !== 'application/json' && !media.endsWith('+json')) return text;
  const body = JSON.parse(text);
  const check = ajv.getSchema(`openapi.json#${pointer}/content/${escape(media)}/schema`);
  if (!check(body)) {
    assert.fail(`${method} ${op.template} ${status}: the body does not match the schema:\n` +
        `${JSON.stringify(check.errors, null, 1).slice(0, 1500)}\nbody: ${text.slice(0, 600)}`);
  }
  return body;
}

// --------------------------------------------------------------- server

const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'touchline-openapi-'));
const portFile = path.join(dataDir, 'port');
let base = null;
const server = spawn(serverPath, ['--data-dir', path.join(dataDir, 'data'), '--port', '0',
  '--port-file', portFile, '--log-level', 'error'], {stdio: ['ignore', 'inherit', 'inherit']});
let exited = null;
server.on('exit', (c, s) => { exited = s ?? c; });
const keys = {};

async function call(method, pathname, {key = keys.admin, body, headers = {}, expect} = {}) {
  const h = {...headers};
  if (key) h.Authorization = `Bearer ${key}`;
  let payload = body;
  if (body !== undefined && typeof body !== 'string') {
    payload = JSON.stringify(body);
    h['Content-Type'] ??= 'application/json';
  }
  const res = await fetch(base + pathname, {method, headers: h, body: payload});
  const text = await res.text();
  const url = new URL(base + pathname);
  const parsed = validate(method, url.pathname, res.status, res.headers.get('content-type'), text);
  if (expect !== undefined) assert.equal(res.status, expect, `${method} ${pathname}: ${res.status} ${text.slice(0, 300)}`);
  return {status: res.status, body: parsed, text, headers: res.headers};
}

// A receiver for the sink (answers 200).
const receiver = http.createServer((req, res) => { req.resume(); req.on('end', () => res.end()); });

try {
  for (let i = 0; i < 200 && !fs.existsSync(portFile) && exited === null; i++) await sleep(50);
  base = `http://127.0.0.1:${fs.readFileSync(portFile, 'utf8').trim()}`;
  const createKey = (name, role) => JSON.parse(execFileSync(tlctlPath,
      ['keys', 'create', '--data-dir', path.join(dataDir, 'data'), '--name', name, '--role', role,
        '--json'], {encoding: 'utf8'})).key;
  for (const role of ['admin', 'ingest', 'agent', 'auditor']) keys[role] = createKey(`oa-${role}`, role);
  for (let i = 0; i < 50; i++) {
    const r = await fetch(`${base}/v1/auth/whoami`, {headers: {Authorization: `Bearer ${keys.ingest}`}});
    if (r.status === 200) break;
    await sleep(100);
  }
  await new Promise((r) => receiver.listen(0, '127.0.0.1', r));

  // 2. The served description is the file.
  const served = await call('GET', '/v1/openapi.json', {key: null, expect: 200});
  assert.deepEqual(served.body, spec, 'GET /v1/openapi.json serves api/openapi.json');

  // Public and meta.
  await call('GET', '/healthz', {key: null, expect: 200});
  await call('GET', '/readyz', {key: null, expect: 200});
  await call('GET', '/', {key: null, expect: 200});
  await call('GET', '/console/console.js', {key: null, expect: 200});
  await call('GET', '/console/nothing.js', {key: null, expect: 404});
  await call('GET', '/metrics', {expect: 200});
  await call('GET', '/metrics', {key: keys.ingest, expect: 403});
  await call('GET', '/v1/auth/whoami', {expect: 200});
  await call('GET', '/v1/auth/whoami', {key: null, expect: 401});
  await call('GET', '/v1/audit/public-key', {key: null, expect: 200});
  await call('GET', '/v1/stream', {key: keys.agent, expect: 426});

  // Events.
  const appended = await call('POST', '/v1/events', {key: keys.ingest, expect: 201, body: [
    {id: 'oa-1', customer: 'c-oa', type: 'purchase.completed', channel: 'web',
      identities: {email: 'oa@example.com'}, data: {total: 12.5, currency: 'EUR'}},
    {id: 'oa-2', customer: 'c-oa', type: 'ticket.opened', department: 'support', data: {}}]});
  await call('POST', '/v1/events', {key: keys.ingest, expect: 200, body: [
    {id: 'oa-1', customer: 'c-oa', type: 'purchase.completed', channel: 'web',
      identities: {email: 'oa@example.com'}, data: {total: 12.5, currency: 'EUR'}}]});
  await call('POST', '/v1/events', {key: keys.ingest, expect: 400, body: [{customer: 'c-oa'}]});
  await call('POST', '/v1/events', {key: keys.ingest, expect: 415, body: 'x',
    headers: {'Content-Type': 'text/plain'}});
  await call('POST', '/v1/events', {key: keys.ingest, expect: 409, body: [
    {customer: 'c-oa', type: 'note.added', data: {}, expected_version: 1}]});
  await call('POST', '/v1/events', {key: keys.agent, expect: 403, body: []});
  await call('GET', '/v1/events?limit=10', {expect: 200});
  await call('GET', '/v1/events', {expect: 200, headers: {Accept: 'application/x-ndjson'}});
  await call('GET', '/v1/events?limit=x', {expect: 400});

  // Segment and CloudEvents.
  const seg = {userId: 'u-oa', messageId: 'm-1', traits: {email: 'oa@example.com'}};
  await call('POST', '/v1/identify', {key: keys.ingest, expect: 200, body: seg});
  await call('POST', '/v1/track', {key: keys.ingest, expect: 200,
    body: {userId: 'u-oa', messageId: 'm-2', event: 'Order Completed', properties: {total: 3}}});
  await call('POST', '/v1/page', {key: keys.ingest, expect: 200, body: {userId: 'u-oa', messageId: 'm-3', name: 'Home'}});
  await call('POST', '/v1/screen', {key: keys.ingest, expect: 200, body: {userId: 'u-oa', messageId: 'm-4', name: 'Cart'}});
  await call('POST', '/v1/group', {key: keys.ingest, expect: 200, body: {userId: 'u-oa', messageId: 'm-5', groupId: 'g-1'}});
  await call('POST', '/v1/alias', {key: keys.ingest, expect: 200, body: {userId: 'u-oa', messageId: 'm-6', previousId: 'anon-oa'}});
  await call('POST', '/v1/batch', {key: keys.ingest, expect: 200, body: {batch: [
    {type: 'track', userId: 'u-oa', messageId: 'm-7', event: 'Cart Viewed'}, {type: 'track', messageId: 'm-8'}]}});
  await call('POST', '/v1/import', {key: keys.ingest, expect: 200, body: {batch: [
    {type: 'track', userId: 'u-oa', messageId: 'm-9', event: 'Cart Viewed'}]}});
  await call('POST', '/v1/track', {key: keys.ingest, expect: 400, body: {messageId: 'm-x', event: 'E'}});
  await call('POST', '/v1/cloudevents', {key: keys.ingest, expect: 201,
    headers: {'Content-Type': 'application/cloudevents+json'},
    body: {specversion: '1.0', id: 'ce-1', source: 'urn:test', type: 'com.example.ticket.opened',
      subject: 'user_id:u-oa', data: {ticket: 7}}});
  await call('POST', '/v1/cloudevents', {key: keys.ingest, expect: 200,
    headers: {'Content-Type': 'application/cloudevents-batch+json'},
    body: [{specversion: '1.0', id: 'ce-2', source: 'urn:test', type: 'x.y', subject: 'user_id:u-oa'}]});
  await call('POST', '/v1/cloudevents', {key: keys.ingest, expect: 400,
    headers: {'Content-Type': 'application/cloudevents+json'}, body: {specversion: '0.3'}});
  await call('OPTIONS', '/v1/cloudevents', {key: keys.ingest, expect: 200,
    headers: {'WebHook-Request-Origin': 'example.com'}});
  await call('GET', '/v1/ingest/refusals', {key: keys.ingest, expect: 200});

  // Customers.
  const found = await call('GET', '/v1/customers?email=oa@example.com', {key: keys.agent, expect: 200});
  await call('GET', '/v1/customers?q=oa&limit=5', {key: keys.agent, expect: 200});
  await call('GET', '/v1/customers?email=nobody@example.com', {key: keys.agent, expect: 404});
  await call('GET', '/v1/customers/c-oa', {key: keys.agent, expect: 200});
  await call('GET', '/v1/customers/c-oa/timeline?limit=1', {key: keys.agent, expect: 200});
  await call('GET', '/v1/customers/c-oa/timeline?limit=0', {key: keys.agent, expect: 400});
  await call('POST', '/v1/customers/c-oa/notes', {key: keys.agent, expect: 201,
    body: {text: 'Called back about the order'}});
  await call('GET', '/v1/customers/c-oa/reminders', {key: keys.agent, expect: 200});
  assert.ok(found.body);

  // Reminder rules and reminders.
  const rule = {id: 'oa-rule', campaign: 'oa-campaign', offset: '0d',
    trigger: {event: 'cart.abandoned'}, deliver: {queue: 'sales'}};
  await call('POST', '/v1/reminder-rules', {expect: 201, body: rule});
  await call('POST', '/v1/reminder-rules', {expect: 409, body: rule});
  await call('POST', '/v1/reminder-rules', {expect: 400, body: {id: 'x'}});
  await call('GET', '/v1/reminder-rules', {key: keys.agent, expect: 200});
  await call('GET', '/v1/reminder-rules/oa-rule', {key: keys.agent, expect: 200});
  await call('PUT', '/v1/reminder-rules/oa-rule', {expect: 200, body: {...rule, offset: '1d'}});
  await call('POST', '/v1/events', {key: keys.ingest, expect: 201,
    body: [{customer: 'c-oa', type: 'cart.abandoned', data: {}}]});
  let reminders = null;
  for (let i = 0; i < 50; i++) {
    reminders = await call('GET', '/v1/reminders?campaign=oa-campaign', {key: keys.agent, expect: 200});
    if (reminders.body.reminders?.length) break;
    await sleep(100);
  }
  assert.ok(reminders.body.reminders.length > 0, 'the rule scheduled a reminder');
  await call('GET', `/v1/reminders/${encodeURIComponent(reminders.body.reminders[0].id)}`, {key: keys.agent, expect: 200});
  await call('GET', '/v1/reminders/none', {key: keys.agent, expect: 404});
  await call('GET', '/v1/campaigns/oa-campaign', {key: keys.agent, expect: 200});
  await call('DELETE', '/v1/reminder-rules/oa-rule', {expect: 200});
  await call('GET', '/v1/reminder-rules/oa-rule', {key: keys.agent, expect: 404});

  // Sinks.
  const url = `http://127.0.0.1:${receiver.address().port}/in`;
  await call('POST', '/v1/sinks', {expect: 201, body: {id: 'oa-sink', url, mode: 'batch'}});
  await call('POST', '/v1/sinks', {expect: 409, body: {id: 'oa-sink', url}});
  await call('POST', '/v1/sinks', {expect: 400, body: {id: 'oa-sink'}});
  await call('POST', '/v1/sinks', {key: keys.agent, expect: 403, body: {id: 'x', url}});
  for (const p of ['/v1/sinks', '/v1/sinks/oa-sink']) {
    const r = await call('GET', p, {expect: 200});
    assert.ok(!r.text.includes('whsec_'), `${p} never shows the secret`);
  }
  await call('POST', '/v1/sinks/oa-sink/pause', {expect: 200});
  await call('POST', '/v1/sinks/oa-sink/pause', {expect: 409});
  await call('POST', '/v1/sinks/oa-sink/resume', {expect: 200});
  await call('POST', '/v1/sinks/oa-sink/replay', {expect: 200, body: {from_seq: 1}});
  await call('POST', '/v1/sinks/oa-sink/replay', {expect: 400, body: {}});
  await call('DELETE', '/v1/sinks/oa-sink', {expect: 200});
  await call('GET', '/v1/sinks/oa-sink', {expect: 404});

  // Operations and audit.
  await call('GET', '/v1/projections', {expect: 200});
  await call('POST', '/v1/projections/reminders/rebuild', {expect: 202});
  await call('POST', '/v1/projections/none/rebuild', {expect: 404});
  await call('POST', '/v1/admin/backups', {expect: 201,
    body: {dir: path.join(dataDir, 'backup')}});
  await call('POST', '/v1/audit/checkpoint', {key: keys.auditor, expect: 201});
  const cp = await call('GET', '/v1/audit/checkpoint', {key: keys.auditor, expect: 200});
  const size = cp.body.tree_size ?? cp.body.checkpoint?.tree_size ?? 2;
  await call('GET', `/v1/audit/proof/inclusion?seq=1&tree_size=${size}`, {key: keys.auditor, expect: 200});
  await call('GET', `/v1/audit/proof/consistency?from=1&to=${size}`, {key: keys.auditor, expect: 200});
  await call('GET', '/v1/audit/proof/inclusion?seq=0', {key: keys.auditor, expect: 400});
  await call('GET', '/v1/audit/export', {key: keys.auditor, expect: 200});
  await call('GET', '/v1/audit/customers/c-oa', {key: keys.auditor, expect: 200});
  await call('GET', '/v1/audit/actors/oa-ingest', {key: keys.auditor, expect: 200});
  await call('POST', '/v1/customers/c-oa/erase', {expect: 200});
  await call('POST', '/v1/customers/nobody/erase', {expect: 404});
  assert.ok(appended.body.events.length === 2);

  const missing = operations.map((o) => `${o.method} ${o.template}`).filter((k) => !covered.has(k));
  assert.deepEqual(missing, [], 'every documented operation was called and its answer validated');
  console.log(`openapi contract: ${covered.size} operations, every answer valid`);
} finally {
  if (exited === null) {
    const gone = new Promise((r) => server.once('exit', r));
    server.kill('SIGTERM');
    await gone;
  }
  receiver.close();
  fs.rmSync(dataDir, {recursive: true, force: true});
}
