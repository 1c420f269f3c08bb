// touchline agent console: search a customer, read the unified view and the
// timeline, watch new events arrive live (WebSocket /v1/stream), add notes.
// Plain JavaScript against the public HTTP API; every value from the server
// is inserted as text, never as HTML.
'use strict';

const $ = (id) => document.getElementById(id);
const PAGE = 30;

const state = {
  id: null,          // the id in the address bar
  view: null,        // GET /v1/customers/{id}
  next: null,        // timeline cursor (older events), null at the end
  loading: false,
  seen: new Set(),   // seqs on screen
  channels: new Set(),
  type: '',
  lastSeq: 0,        // newest seq received live, to resume after a drop
  ws: null,
  wsRetry: 0,
  generation: 0,     // bumps when another customer is opened
};

// ---- small helpers -------------------------------------------------------

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'class') e.className = v;
    else if (k === 'text') e.textContent = v;
    else e.setAttribute(k, v);
  }
  for (const c of children) e.append(c);
  return e;
}

// The API key (when the server requires one) lives in this tab's
// sessionStorage only; it is sent as a Bearer token, and to the WebSocket
// as ?access_token= because browsers cannot set headers there.
const KEY_STORAGE = 'touchline.key';
function apiKey() { return sessionStorage.getItem(KEY_STORAGE) || ''; }

function askForKey(message) {
  $('key-form').hidden = false;
  $('key-message').textContent = message;
  $('key').focus();
}

async function api(path, options = {}) {
  const headers = {'Accept': 'application/json', ...(options.headers || {})};
  if (apiKey()) headers['Authorization'] = 'Bearer ' + apiKey();
  const res = await fetch(path, {...options, headers});
  if (res.status === 401 || res.status === 403) {
    askForKey(res.status === 401 ? 'This server needs an API key (role agent).'
                                 : 'This key may not do that; use an agent key.');
  }
  let body = null;
  try { body = await res.json(); } catch (_) { /* empty or not JSON */ }
  if (!res.ok) {
    const msg = body && body.error ? body.error.message : `${res.status} ${res.statusText}`;
    const err = new Error(msg);
    err.status = res.status;
    throw err;
  }
  return body;
}

function showError(message) {
  $('error').textContent = message;
  $('error').hidden = !message;
}

const rtf = new Intl.RelativeTimeFormat(undefined, {numeric: 'auto'});
function relativeTime(iso) {
  const seconds = (Date.parse(iso) - Date.now()) / 1000;
  const abs = Math.abs(seconds);
  if (abs < 45) return 'just now';
  const units = [['minute', 60], ['hour', 3600], ['day', 86400], ['month', 2592000], ['year', 31536000]];
  let unit = units[0];
  for (const u of units) if (abs >= u[1] * 0.9) unit = u;
  return rtf.format(Math.round(seconds / unit[1]), unit[0]);
}

function timeEl(iso) {
  const t = el('time', {datetime: iso, title: new Date(iso).toLocaleString()});
  t.textContent = relativeTime(iso);
  return t;
}

// Symbols from the Basic Multilingual Plane that common text fonts carry,
// so the icons render without an emoji font (the console works offline).
const ICONS = [
  ['email', '\u2709'], ['phone', '\u260e'], ['call', '\u260e'], ['sms', '\u2706'],
  ['whatsapp', '\u2706'], ['chat', '\u275d'], ['web', '\u2302'], ['app', '\u25a3'],
  ['social', '\u2665'], ['store', '\u229e'], ['pos', '\u229e'], ['note', '\u270e'],
  ['ticket', '\u2691'], ['purchase', '\u00a4'], ['order', '\u00a4'], ['profile', '\u21c4'],
  ['reminder', '\u231a'],
];
function iconFor(ev) {
  const keys = [ev.channel || '', ev.type || ''];
  for (const k of keys) {
    for (const [prefix, icon] of ICONS) if (k === prefix || k.startsWith(prefix + '.') || k.startsWith(prefix)) return icon;
  }
  return '\u2022';
}

function humanType(type) {
  const s = type.replace(/[._]/g, ' ');
  return s.charAt(0).toUpperCase() + s.slice(1);
}

function summary(ev) {
  const d = ev.data || {};
  for (const k of ['subject', 'text', 'body', 'message', 'comment', 'title', 'summary', 'note']) {
    if (typeof d[k] === 'string' && d[k]) return d[k];
  }
  const amount = d.amount ?? d.total ?? d.revenue;
  if (typeof amount === 'number') return `${amount} ${d.currency || ''}`.trim();
  if (ev.type === 'profile.merged' && d.merged_profile) return `Merged ${d.merged_profile} into ${d.profile}`;
  return '';
}

// ---- search --------------------------------------------------------------

// What the agent typed, as an id the API resolves.
function toCustomerId(text) {
  const t = text.trim();
  if (/^[^\s:@]+@[^\s@]+$/.test(t)) return 'email:' + t.toLowerCase();
  if (/^\+\d[\d\s-]{5,}$/.test(t)) return 'phone:' + t.replace(/[\s-]/g, '');
  return t;
}

let suggestTimer = null;
async function suggest(prefix) {
  const list = $('suggestions');
  if (prefix.length < 2) { list.hidden = true; return; }
  try {
    const page = await api(`/v1/customers?q=${encodeURIComponent(prefix)}&limit=8`);
    list.replaceChildren(...page.matches.map((m) => {
      const li = el('li', {role: 'option'}, el('span', {text: m.identity}), el('span', {class: 'muted', text: m.profile}));
      li.addEventListener('mousedown', (e) => { e.preventDefault(); go(m.profile); });
      return li;
    }));
    list.hidden = page.matches.length === 0;
  } catch (_) {
    list.hidden = true;
  }
}

function go(id) {
  $('suggestions').hidden = true;
  location.hash = '#/customers/' + encodeURIComponent(id);
}

$('search').addEventListener('input', (e) => {
  clearTimeout(suggestTimer);
  suggestTimer = setTimeout(() => suggest(e.target.value.trim()), 200);
});
$('search').addEventListener('blur', () => setTimeout(() => { $('suggestions').hidden = true; }, 150));
$('search-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  const text = $('search').value.trim();
  if (text) go(toCustomerId(text));
});

// ---- the customer view ---------------------------------------------------

function displayName(v) {
  const t = v.traits || {};
  const val = (k) => (t[k] && typeof t[k].value === 'string' ? t[k].value : '');
  const full = val('name') || [val('first_name'), val('last_name')].filter(Boolean).join(' ');
  if (full) return full;
  const ids = v.identities || {};
  if (ids.email && ids.email.length) return ids.email[0];
  if (ids.phone && ids.phone.length) return ids.phone[0];
  return v.customers && v.customers.length ? v.customers[0] : v.profile;
}

function renderView(v) {
  const name = displayName(v);
  $('name').textContent = name;
  $('avatar').textContent = (name.match(/[\p{L}\p{N}]/u) || ['?'])[0].toUpperCase();
  $('profile-id').textContent = `${v.profile} · ${v.customers.length} stream${v.customers.length === 1 ? '' : 's'}`;

  const chips = [];
  for (const [type, values] of Object.entries(v.identities || {})) {
    for (const value of values) chips.push(el('span', {class: 'chip', title: type, text: `${type}: ${value}`}));
  }
  for (const c of v.customers) chips.push(el('span', {class: 'chip', title: 'customer id', text: `id: ${c}`}));
  $('identities').replaceChildren(...chips);

  const stat = (label, value) => el('div', {}, el('dt', {text: label}), el('dd', {}, value));
  const ltv = Object.entries(v.lifetime_value || {}).map(([c, a]) => `${a} ${c}`).join(', ') || '—';
  $('stats').replaceChildren(
    stat('Events', document.createTextNode(String(v.events))),
    stat('Last contact', v.last_contact ? timeEl(v.last_contact) : document.createTextNode('—')),
    stat('First seen', v.first_seen ? timeEl(v.first_seen) : document.createTextNode('—')),
    stat('Open tickets', document.createTextNode(String((v.open_tickets || []).length))),
    stat('Lifetime value', document.createTextNode(ltv)),
  );

  const traits = Object.entries(v.traits || {});
  $('traits').replaceChildren(...(traits.length ? traits.map(([k, t]) => el('tr', {},
    el('td', {text: k}),
    el('td', {title: `set by ${t.event_type} (seq ${t.seq})`, text: typeof t.value === 'string' ? t.value : JSON.stringify(t.value)}),
  )) : [el('tr', {}, el('td', {class: 'muted', text: 'none yet'}))]));

  const tickets = v.open_tickets || [];
  $('tickets').replaceChildren(...(tickets.length ? tickets.map((t) => el('li', {},
    el('strong', {text: t.ticket_id}), document.createTextNode(' ' + (t.subject || '') + ' · '), timeEl(t.opened),
  )) : [el('li', {class: 'muted', text: 'none'})]));

  // Channel filters, from the channels this customer has used.
  const channels = Object.keys(v.channels || {}).sort();
  $('channel-filters').replaceChildren(...channels.map((c) => {
    const b = el('button', {type: 'button', 'aria-pressed': String(state.channels.has(c))},
      document.createTextNode(`${iconFor({channel: c})} ${c} ${v.channels[c].count}`));
    b.addEventListener('click', () => {
      if (state.channels.has(c)) state.channels.delete(c); else state.channels.add(c);
      b.setAttribute('aria-pressed', String(state.channels.has(c)));
      reloadTimeline();
    });
    return b;
  }));
}

// The person's pending reminders, soonest first.
async function loadReminders() {
  const id = state.id;
  try {
    const page = await api(`/v1/customers/${encodeURIComponent(id)}/reminders`);
    if (id !== state.id) return;  // another customer was opened meanwhile
    const pending = page.reminders.filter((r) => r.status === 'pending')
      .sort((a, b) => Date.parse(a.due) - Date.parse(b.due)).slice(0, 5);
    $('reminders').replaceChildren(...(pending.length ? pending.map((r) => el('li', {},
      el('strong', {text: r.campaign}), document.createTextNode(' ' + (r.message || r.rule) + ' · '),
      timeEl(r.due),
    )) : [el('li', {class: 'muted', text: 'none'})]));
  } catch (_) {
    $('reminders').replaceChildren(el('li', {class: 'muted', text: 'unavailable'}));
  }
}

let viewRefresh = null;
function refreshViewSoon() {
  clearTimeout(viewRefresh);
  const gen = state.generation;
  viewRefresh = setTimeout(async () => {
    try {
      const v = await api(`/v1/customers/${encodeURIComponent(state.id)}`);
      if (gen === state.generation) { state.view = v; renderView(v); loadReminders(); }
    } catch (_) { /* the next event retries */ }
  }, 300);
}

// ---- the timeline --------------------------------------------------------

function matchesFilters(ev) {
  if (state.channels.size && !state.channels.has(ev.channel)) return false;
  const t = state.type;
  if (t && !(ev.type === t || ev.type.startsWith(t + '.'))) return false;
  return true;
}

function eventItem(ev, isNew) {
  const meta = [ev.channel, ev.department, ev.customer, ev.actor && ev.actor !== 'anonymous' ? `by ${ev.actor}` : '']
    .filter(Boolean).join(' · ');
  const body = el('div', {},
    el('div', {class: 'title', text: humanType(ev.type)}),
    el('div', {class: 'summary', text: summary(ev)}),
    el('div', {class: 'meta', text: meta}));
  const li = el('li', {class: 'event' + (isNew ? ' new' : ''), 'data-seq': String(ev.seq), tabindex: '0'},
    el('div', {class: 'icon', 'aria-hidden': 'true', text: iconFor(ev)}), body, timeEl(ev.time));
  const toggle = () => {
    const pre = li.querySelector('pre');
    if (pre) pre.remove(); else li.append(el('pre', {text: JSON.stringify(ev, null, 2)}));
  };
  li.addEventListener('click', toggle);
  li.addEventListener('keydown', (e) => { if (e.key === 'Enter') toggle(); });
  return li;
}

// Inserts events keeping the list newest first, each seq once.
function addEvents(events, isNew) {
  const list = $('timeline');
  for (const ev of events) {
    if (state.seen.has(ev.seq) || !matchesFilters(ev)) continue;
    state.seen.add(ev.seq);
    const item = eventItem(ev, isNew);
    let before = null;
    for (const other of list.children) {
      if (Number(other.dataset.seq) < ev.seq) { before = other; break; }
    }
    list.insertBefore(item, before);
  }
}

async function loadMore() {
  if (state.loading || state.next === null) return;
  state.loading = true;
  const gen = state.generation;
  const params = new URLSearchParams({limit: String(PAGE)});
  if (state.next) params.set('before', state.next);
  if (state.channels.size) params.set('channels', [...state.channels].join(','));
  if (state.type) params.set('types', state.type);
  $('sentinel').textContent = 'Loading…';
  try {
    const page = await api(`/v1/customers/${encodeURIComponent(state.id)}/timeline?${params}`);
    if (gen !== state.generation) return;
    addEvents(page.events, false);
    state.next = page.next || null;
    $('sentinel').textContent = state.next === null
      ? ($('timeline').children.length ? 'The beginning of this customer\u2019s history' : 'No events match')
      : '';
  } catch (e) {
    if (gen === state.generation) $('sentinel').textContent = 'Could not load: ' + e.message;
  } finally {
    if (gen === state.generation) state.loading = false;
  }
  // Keep filling while the sentinel is still on screen.
  if (gen === state.generation && state.next !== null && sentinelVisible()) loadMore();
}

function sentinelVisible() {
  const r = $('sentinel').getBoundingClientRect();
  return r.top < window.innerHeight + 200;
}

function reloadTimeline() {
  state.generation++;
  state.loading = false;
  state.seen.clear();
  state.next = '';
  $('timeline').replaceChildren();
  loadMore();
}

new IntersectionObserver((entries) => {
  if (entries.some((e) => e.isIntersecting)) loadMore();
}, {rootMargin: '200px'}).observe($('sentinel'));

let typeTimer = null;
$('type-filter').addEventListener('input', (e) => {
  clearTimeout(typeTimer);
  typeTimer = setTimeout(() => {
    const t = e.target.value.trim().toLowerCase();
    if (t === state.type || (t && !/^[a-z][a-z0-9_-]*(\.[a-z][a-z0-9_-]*)*$/.test(t))) return;
    state.type = t;
    reloadTimeline();
  }, 300);
});

// ---- live updates --------------------------------------------------------

function setLive(on, text) {
  const pill = $('live');
  pill.className = 'pill ' + (on ? 'pill-on' : 'pill-off');
  pill.textContent = text;
}

// One subscription per connection, named after the customer opened, so
// events still in flight for the previous customer are told apart.
function subscribe() {
  const ws = state.ws;
  if (!ws || ws.readyState !== WebSocket.OPEN || !state.view) return;
  if (ws.subId) ws.send(JSON.stringify({op: 'unsubscribe', id: ws.subId}));
  ws.subId = 'customer-' + (++subscriptions);
  ws.send(JSON.stringify({
    op: 'subscribe', id: ws.subId, customers: [state.view.profile],
    from: state.lastSeq > 0 ? state.lastSeq : 'now',
  }));
}
let subscriptions = 0;

function connect() {
  const url = (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/v1/stream' +
      (apiKey() ? '?access_token=' + encodeURIComponent(apiKey()) : '');
  const ws = new WebSocket(url);
  state.ws = ws;
  ws.onopen = () => { state.wsRetry = 0; setLive(true, 'live'); subscribe(); };
  ws.onmessage = (m) => {
    let msg;
    try { msg = JSON.parse(m.data); } catch (_) { return; }
    if (msg.id !== ws.subId) return;
    if (msg.type === 'subscribed' && state.lastSeq === 0) {
      state.lastSeq = msg.from;
    } else if (msg.type === 'events') {
      for (const ev of msg.events) state.lastSeq = Math.max(state.lastSeq, ev.seq);
      addEvents(msg.events, true);
      refreshViewSoon();
    }
  };
  ws.onclose = () => {
    if (state.ws !== ws) return;
    state.ws = null;
    const delay = Math.min(10000, 500 * 2 ** state.wsRetry++);
    setLive(false, 'reconnecting…');
    setTimeout(connect, delay);
  };
}

// ---- notes ---------------------------------------------------------------

$('note-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  const text = $('note-text').value.trim();
  if (!text || !state.view) return;
  $('note-submit').disabled = true;
  $('note-status').textContent = 'Saving…';
  try {
    await api(`/v1/customers/${encodeURIComponent(state.view.profile)}/notes`, {
      method: 'POST',
      headers: {'Content-Type': 'application/json', 'Accept': 'application/json'},
      body: JSON.stringify({text}),
    });
    $('note-text').value = '';
    $('note-status').textContent = 'Note added';
  } catch (err) {
    $('note-status').textContent = 'Not saved: ' + err.message;
  } finally {
    $('note-submit').disabled = false;
  }
});

// ---- routing -------------------------------------------------------------

async function open(id) {
  state.generation++;
  state.id = id;
  state.view = null;
  state.lastSeq = 0;
  state.channels.clear();
  state.type = '';
  $('type-filter').value = '';
  showError('');
  $('welcome').hidden = true;
  try {
    const v = await api(`/v1/customers/${encodeURIComponent(id)}`);
    if (id !== state.id) return;
    state.view = v;
    document.title = `${displayName(v)} · touchline`;
    renderView(v);
    loadReminders();
    $('customer').hidden = false;
    // Subscribe first, then read the history: the live feed starts at the
    // head, the pages cover what came before, and seqs drop duplicates.
    subscribe();
    reloadTimeline();
  } catch (e) {
    $('customer').hidden = true;
    $('welcome').hidden = false;
    showError(e.status === 404 ? `No customer found for \u201c${id}\u201d. Try the start of an email, phone or id.` : e.message);
  }
}

function route() {
  const m = location.hash.match(/^#\/customers\/(.+)$/);
  if (m) {
    const id = decodeURIComponent(m[1]);
    $('search').value = id;
    open(id);
  } else {
    state.id = null;
    $('customer').hidden = true;
    $('welcome').hidden = false;
  }
}

window.addEventListener('hashchange', route);
$('key-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const key = $('key').value.trim();
  if (!key) return;
  sessionStorage.setItem(KEY_STORAGE, key);
  $('key').value = '';
  $('key-form').hidden = true;
  showError('');
  if (state.ws) state.ws.close();  // reconnects with the key
  route();
});
setInterval(() => {
  for (const t of document.querySelectorAll('time[datetime]')) t.textContent = relativeTime(t.getAttribute('datetime'));
}, 30000);
connect();
route();
