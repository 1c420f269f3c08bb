// Browser test of the agent console: starts the real touchlined on a free
// loopback port, drives Debian's Chromium headless with playwright-core, and
// checks what an agent does: search a customer, read the view and the
// timeline, scroll into history, see an event posted over HTTP appear live
// (within 1 s), add a note through the form; then, once the server
// requires API keys, enter an agent key in the console and keep working.
// Saves a screenshot.
//
// node console_test.mjs --server PATH/touchlined --tlctl PATH/tlctl --artifacts DIR
// Exit code 0 on success; any failed check throws and exits 1.
import assert from 'node:assert/strict';
import {execFileSync, spawn} from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {chromium} from 'playwright-core';

function arg(name, fallback) {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : fallback;
}
const serverPath = arg('--server');
const artifacts = arg('--artifacts', os.tmpdir());
const browserPath = arg('--chromium', '/usr/bin/chromium');
const tlctlPath = arg('--tlctl');
assert.ok(serverPath, 'pass --server PATH to touchlined');
assert.ok(tlctlPath, 'pass --tlctl PATH to tlctl');
fs.mkdirSync(artifacts, {recursive: true});

const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'touchline-browser-'));
const portFile = path.join(dataDir, 'port');
const server = spawn(serverPath, ['--data-dir', path.join(dataDir, 'data'), '--port', '0',
  '--port-file', portFile, '--log-level', 'warn'], {stdio: ['ignore', 'inherit', 'inherit']});
let base = null;
let browser = null;

async function startServer() {
  for (let i = 0; i < 200 && !fs.existsSync(portFile); i++) await new Promise((r) => setTimeout(r, 50));
  assert.ok(fs.existsSync(portFile), 'touchlined did not start (no port file)');
  base = `http://127.0.0.1:${fs.readFileSync(portFile, 'utf8').trim()}`;
}

async function post(events) {
  const res = await fetch(`${base}/v1/events`, {
    method: 'POST', headers: {'Content-Type': 'application/json'}, body: JSON.stringify(events),
  });
  const body = await res.json();
  assert.ok(res.status === 201, `POST /v1/events: ${res.status} ${JSON.stringify(body)}`);
  return body.events;
}

async function main() {
  await startServer();
  // A reminder rule, so the view lists Ann's upcoming follow-up.
  const rule = await fetch(`${base}/v1/reminder-rules`, {
    method: 'POST', headers: {'Content-Type': 'application/json'},
    body: JSON.stringify({id: 'ticket-follow-up', campaign: 'support-follow-up', offset: '60d',
      trigger: {event: 'ticket.opened'}, cancel_on: ['ticket.closed'], deliver: {queue: 'support'},
      message: 'Check the login issue is solved'}),
  });
  assert.equal(rule.status, 201, await rule.text());

  // Ann has 70 events over several channels; two other customers exist.
  const start = Date.parse('2026-11-01T09:00:00Z');
  const channels = ['email', 'phone', 'chat', 'web', 'social.twitter'];
  const history = [];
  for (let i = 0; i < 70; i++) {
    history.push({
      customer: 'crm-ann', type: i === 0 ? 'ticket.opened' : 'message.received',
      channel: channels[i % channels.length], time: new Date(start + i * 3600e3).toISOString(),
      identities: {email: 'Ann.Lee@example.com'},
      data: i === 0 ? {ticket_id: 'T-7', subject: 'Cannot log in', traits: {name: 'Ann Lee', plan: 'gold'}}
        : {text: `Message number ${i}`},
    });
  }
  await post(history);
  await post([{customer: 'crm-bob', type: 'message.received', channel: 'email',
    identities: {email: 'bob@example.com'}, data: {text: 'Hello from Bob'}}]);
  // Ann also calls from a phone the help desk knows under its own id.
  const [call] = await post([{customer: 'desk-991', type: 'call.completed', channel: 'phone',
    identities: {email: 'ann.lee@example.com', phone: '+6281234567890'},
    data: {text: 'Called about her login'}}]);

  browser = await chromium.launch({
    executablePath: browserPath,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const page = await browser.newPage({viewport: {width: 1200, height: 900}});
  const pageErrors = [];
  page.on('pageerror', (e) => pageErrors.push(e.message));

  await page.goto(base + '/');
  await page.waitForSelector('#search');
  assert.equal(await page.title(), 'touchline · agent console');

  // Typing the start of an email suggests the profile.
  await page.fill('#search', 'ann.l');
  await page.waitForSelector('#suggestions li', {timeout: 5000});
  const suggestion = await page.textContent('#suggestions li');
  assert.match(suggestion, /email:ann\.lee@example\.com/);

  // Searching the full email opens the unified view of both streams.
  await page.fill('#search', 'Ann.Lee@example.com');
  await page.press('#search', 'Enter');
  await page.waitForSelector('#customer:not([hidden])', {timeout: 5000});
  assert.equal(await page.textContent('#name'), 'Ann Lee');
  const ids = await page.textContent('#identities');
  assert.match(ids, /\+6281234567890/);
  assert.match(ids, /desk-991/);
  assert.match(await page.textContent('#tickets'), /T-7/);
  await page.waitForFunction(() => /support-follow-up/.test(document.querySelector('#reminders').textContent),
    null, {timeout: 5000});

  // The first page, newest first: the call from the help desk on top.
  await page.waitForFunction(() => document.querySelectorAll('#timeline li').length >= 30);
  const first = await page.$$eval('#timeline li', (lis) => lis.map((li) => Number(li.dataset.seq)));
  assert.equal(first[0], call.seq, 'the newest event (the help desk call) is first');
  for (let i = 1; i < first.length; i++) assert.ok(first[i] < first[i - 1], 'newest first');

  // Infinite scroll reaches the beginning of the history.
  for (let i = 0; i < 10; i++) {
    await page.evaluate(() => window.scrollTo(0, document.body.scrollHeight));
    await page.waitForTimeout(200);
    if ((await page.$$('#timeline li')).length === 71) break;
  }
  assert.equal((await page.$$('#timeline li')).length, 71, 'all 71 events after scrolling');
  assert.match(await page.textContent('#sentinel'), /beginning/);
  await page.evaluate(() => window.scrollTo(0, 0));

  // An event posted over HTTP appears at the top within a second.
  await page.waitForSelector('#live.pill-on', {timeout: 5000});
  const posted = Date.now();
  const [live] = await post([{customer: 'desk-991', type: 'ticket.closed', channel: 'phone',
    data: {ticket_id: 'T-7', subject: 'Login fixed'}}]);
  await page.waitForSelector(`#timeline li[data-seq="${live.seq}"]`, {timeout: 1000});
  const latency = Date.now() - posted;
  assert.equal(await page.getAttribute('#timeline li:first-child', 'data-seq'), String(live.seq));
  console.log(`live event shown ${latency} ms after the POST`);
  // The view refreshes too: the ticket is closed.
  await page.waitForFunction(() => /none/.test(document.querySelector('#tickets').textContent), null,
    {timeout: 5000});

  // A note added through the form lands on the timeline (over the stream).
  await page.fill('#note-text', 'Confirmed the fix by phone; follow up next week.');
  await page.click('#note-submit');
  await page.waitForFunction(() => {
    const top = document.querySelector('#timeline li');
    return top && /Note added/.test(top.textContent) && /follow up next week/.test(top.textContent);
  }, null, {timeout: 5000});
  assert.equal(await page.textContent('#note-status'), 'Note added');
  assert.equal(await page.inputValue('#note-text'), '');
  const notes = await (await fetch(`${base}/v1/customers/crm-ann/timeline?types=note&limit=5`)).json();
  assert.equal(notes.events.length, 1);
  assert.equal(notes.events[0].data.text, 'Confirmed the fix by phone; follow up next week.');

  // Channel filter: only phone events.
  await page.click('#channel-filters button:has-text("phone")');
  await page.waitForFunction(() => {
    const lis = [...document.querySelectorAll('#timeline li')];
    return lis.length > 0 && lis.every((li) => /phone/.test(li.querySelector('.meta').textContent));
  }, null, {timeout: 5000});

  const shot = path.join(artifacts, 'console.png');
  await page.click('#channel-filters button:has-text("phone")');
  await page.waitForFunction(() => document.querySelectorAll('#timeline li').length > 20);
  await page.screenshot({path: shot, fullPage: false});
  console.log(`screenshot: ${shot}`);

  // An unknown customer gets a clear message, not a broken page.
  await page.fill('#search', 'nobody@example.com');
  await page.press('#search', 'Enter');
  await page.waitForSelector('#error:not([hidden])', {timeout: 5000});
  assert.match(await page.textContent('#error'), /No customer found/);

  // The first key switches the server to keys-required: the console asks
  // for one, and with an agent key the view and live updates work again.
  const createKey = (name, role) => JSON.parse(execFileSync(tlctlPath,
      ['keys', 'create', '--data-dir', path.join(dataDir, 'data'), '--name', name, '--role', role,
        '--json'], {encoding: 'utf8'})).key;
  const agentKey = createKey('console-agent', 'agent');
  const ingestKey = createKey('console-ingest', 'ingest');
  // The server rereads the key file within a second: wait until it knows
  // both keys (it may have reloaded between the two creations).
  for (let i = 0; i < 40; i++) {
    const r = await fetch(`${base}/v1/auth/whoami`, {headers: {'Authorization': `Bearer ${ingestKey}`}});
    if (r.status === 200) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.equal((await fetch(`${base}/v1/auth/whoami`)).status, 401, 'keys are required now');
  await page.goto(`${base}/#/customers/crm-ann`);
  await page.waitForSelector('#key-form:not([hidden])', {timeout: 5000});
  await page.fill('#key', agentKey);
  await page.click('#key-form button');
  await page.waitForSelector('#key-form', {state: 'hidden', timeout: 5000});
  await page.waitForFunction(() => document.querySelectorAll('#timeline li').length > 10,
      null, {timeout: 5000});
  await page.waitForSelector('#live.pill-on', {timeout: 5000});
  const keyed = await fetch(`${base}/v1/events`, {
    method: 'POST',
    headers: {'Content-Type': 'application/json', 'Authorization': `Bearer ${ingestKey}`},
    body: JSON.stringify({customer: 'crm-ann', type: 'chat.message', channel: 'chat',
      data: {text: 'after keys'}}),
  });
  assert.equal(keyed.status, 201);
  const keyedSeq = (await keyed.json()).events[0].seq;
  await page.waitForSelector(`#timeline li[data-seq="${keyedSeq}"]`, {timeout: 3000});
  // The console never puts the key in the page or its address.
  assert.ok(!(await page.content()).includes(agentKey), 'the key is not in the page');
  assert.ok(!page.url().includes(agentKey), 'the key is not in the address');

  assert.deepEqual(pageErrors, [], 'no JavaScript errors on the page');
}

let failed = false;
try {
  await main();
  console.log('console test passed');
} catch (e) {
  failed = true;
  console.error(e);
} finally {
  if (browser) await browser.close();
  server.kill('SIGTERM');
  await new Promise((r) => server.once('exit', r));
  fs.rmSync(dataDir, {recursive: true, force: true});
}
process.exit(failed ? 1 : 0);
