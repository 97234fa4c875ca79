// The operator console: reads the pool's snapshots (server-sent events,
// GET events), draws them, and sends the operator's actions (POST
// actions/<action>, with the page's CSRF token). No framework: the tables
// are kept in step row by row, so focus and scroll survive the updates.
'use strict';

(() => {
	const $ = (sel) => document.querySelector(sel);
	const meta = (name) => document.querySelector(`meta[name="${name}"]`).content;
	const token = meta('csrf-token');
	const readOnly = meta('console-read-only') === 'true';
	const SVG = 'http://www.w3.org/2000/svg';

	let snapshot = null; // the latest
	let history = { step_seconds: 30, series: {} };
	let lastUpdate = 0; // when the latest snapshot came, ms
	let query = ''; // the meeting search in force
	let found = null; // its answer
	let foundAt = 0;

	// ---- small helpers ------------------------------------------------

	function el(tag, props, ...children) {
		const e = document.createElement(tag);
		for (const [k, v] of Object.entries(props || {})) {
			if (k === 'class') e.className = v;
			else if (k === 'text') e.textContent = v;
			else if (k.startsWith('data-') || k.startsWith('aria-') || k === 'role' || k === 'scope') e.setAttribute(k, v);
			else e[k] = v;
		}
		for (const c of children) if (c != null) e.append(c);
		return e;
	}
	const hidden = (text) => el('span', { class: 'visually-hidden', text });

	function setText(e, text) {
		text = String(text);
		if (e.textContent !== text) e.textContent = text;
	}
	function setClass(e, name) {
		if (e.className !== name) e.className = name;
	}
	const num = (n) => Number(n || 0).toLocaleString('en');
	// count says n things: "1 meeting", "5 meetings".
	const count = (n, thing) => `${num(n)} ${thing}${n === 1 ? '' : 's'}`;
	const load = (n) => Number(n || 0).toFixed(1);

	// ago says how long ago t (RFC 3339, or ms) was, or "never".
	function ago(t) {
		if (!t) return 'never';
		const ms = typeof t === 'number' ? t : Date.parse(t);
		if (!ms || ms < 0) return 'never';
		return span(Math.max(0, Date.now() - ms)) + ' ago';
	}
	// span says a duration in ms the short way: 45 s, 12 min, 3 h 05 min.
	function span(ms) {
		const s = Math.round(ms / 1000);
		if (s < 60) return `${s} s`;
		const m = Math.floor(s / 60);
		if (m < 60) return `${m} min`;
		const h = Math.floor(m / 60);
		if (h < 48) return `${h} h ${String(m % 60).padStart(2, '0')} min`;
		return `${Math.floor(h / 24)} days`;
	}
	function bytes(n) {
		const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
		let i = 0;
		while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
		return `${i ? n.toFixed(1) : n} ${units[i]}`;
	}
	function hostOf(url) {
		try { return new URL(url).host; } catch { return url || ''; }
	}

	// syncRows keeps tbody's rows in step with items: one row per key,
	// made once, updated in place, moved only when out of order.
	function syncRows(tbody, rows, items, key, make, update) {
		const seen = new Set();
		let prev = null;
		for (const item of items) {
			const k = key(item);
			seen.add(k);
			let r = rows.get(k);
			if (!r) {
				r = make(item);
				rows.set(k, r);
			}
			update(r, item);
			const want = prev ? prev.nextSibling : tbody.firstChild;
			if (want !== r.tr) tbody.insertBefore(r.tr, want);
			prev = r.tr;
		}
		for (const [k, r] of rows) {
			if (!seen.has(k)) {
				r.tr.remove();
				rows.delete(k);
			}
		}
	}

	// cell makes a table cell labelled for the card layout of phones.
	function cell(label, cls, ...children) {
		return el('td', { 'data-label': label, class: cls || '' }, ...children);
	}

	// ---- the connection -----------------------------------------------

	let source = null;
	function connect() {
		source = new EventSource('events');
		source.addEventListener('snapshot', (e) => {
			snapshot = JSON.parse(e.data);
			lastUpdate = Date.now();
			render();
		});
		source.addEventListener('history', (e) => {
			history = JSON.parse(e.data);
			renderCharts();
		});
		source.onopen = () => renderLive();
		source.onerror = () => {
			renderLive();
			if (source.readyState === EventSource.CLOSED) {
				// The browser gave up (an error answer): try again ourselves.
				source.close();
				setTimeout(connect, 3000);
			}
		};
	}

	function renderLive() {
		const live = $('#live');
		const age = Date.now() - lastUpdate;
		let text, cls;
		if (!lastUpdate) {
			text = 'Connecting…';
			cls = 'live live-wait';
		} else if (age > 5000 || !source || source.readyState !== EventSource.OPEN) {
			text = `No update for ${span(age)}, reconnecting…`;
			cls = 'live live-lost';
		} else {
			text = 'Live';
			cls = 'live live-ok';
		}
		setText($('#live-text'), text);
		setClass(live, cls);
	}

	// ---- drawing ------------------------------------------------------

	function render() {
		const s = snapshot;
		renderLive();
		renderSummary(s);
		renderServers(s.servers || []);
		renderMeetings();
		renderTenants(s.tenants || []);
		renderRecordings(s.recordings);
		renderPoller(s.poller);
	}

	function renderSummary(s) {
		const t = s.totals;
		const errors = s.problems.filter((p) => p.level === 'error');
		const warnings = s.problems.filter((p) => p.level !== 'error');
		let verdict, cls;
		if (s.error) {
			verdict = 'No pool to show';
			cls = 'summary summary-error';
		} else if (errors.length) {
			verdict = `${count(errors.length, 'problem')} need${errors.length > 1 ? '' : 's'} attention`;
			cls = 'summary summary-error';
		} else if (warnings.length) {
			verdict = `Working, ${count(warnings.length, 'warning')}`;
			cls = 'summary summary-warn';
		} else {
			verdict = `All good: ${t.online} of ${count(t.servers, 'server')} online, ${count(t.meetings, 'meeting')}`;
			cls = 'summary summary-ok';
		}
		setText($('#verdict'), verdict);
		setClass($('#summary'), cls);
		const list = $('#problems');
		const want = s.problems.map((p) => p.level + '|' + p.server + '|' + p.text).join('\n');
		if (list.dataset.shown !== want) {
			list.dataset.shown = want;
			list.replaceChildren(...s.problems.map((p) => {
				const icon = el('span', { class: 'icon', 'aria-hidden': 'true', text: p.level === 'error' ? '✕' : '!' });
				const text = p.server ? el('a', { href: `#server-${p.server}`, text: p.text }) : el('span', { text: p.text });
				return el('li', { class: `problem problem-${p.level}` }, icon, hidden(p.level === 'error' ? 'Problem: ' : 'Warning: '), text);
			}));
		}

		setText($('#t-online'), `${t.online} / ${t.servers}`);
		setClass($('#t-online'), t.online < t.servers ? 'bad' : '');
		setText($('#t-taking'), `${num(t.taking_meetings)} take${t.taking_meetings === 1 ? 's' : ''} new meetings`);
		setClass($('#t-taking'), t.servers && !t.taking_meetings ? 'sub bad' : 'sub');
		setText($('#t-meetings'), num(t.meetings));
		setText($('#t-participants'), num(t.participants));
		setText($('#t-voice'), num(t.voice));
		setText($('#t-video'), num(t.video));
		const p = s.poller || {};
		let poller = '–';
		if (p.last_poll) poller = `polled ${ago(p.last_poll)}`;
		else if (!s.error) poller = 'not yet';
		setText($('#t-poller'), poller);
		const late = p.interval_seconds && p.last_poll && Date.parse(s.at) - Date.parse(p.last_poll) > 3000 * p.interval_seconds;
		setClass($('#t-poller'), late ? 'bad' : '');
		document.title = errors.length || s.error ? `(${errors.length || '!'}) BBB pool console` : 'BBB pool console';
	}

	// -- servers

	const serverRows = new Map();

	function makeServerRow(s) {
		const r = {};
		r.name = el('strong');
		r.host = el('span', { class: 'sub' });
		r.state = el('span');
		r.health = el('span');
		r.healthWhy = el('span', { class: 'sub why' });
		r.healthPoll = el('span', { class: 'sub' });
		r.load = el('span', { class: 'load-value' });
		r.spark = document.createElementNS(SVG, 'svg');
		r.spark.setAttribute('class', 'spark');
		r.spark.setAttribute('viewBox', '0 0 120 28');
		r.spark.setAttribute('preserveAspectRatio', 'none');
		r.spark.setAttribute('role', 'img');
		r.meetings = el('span');
		r.users = el('span');
		r.voice = el('span');
		r.video = el('span');
		r.weight = el('span');
		r.tag = el('span');
		const th = el('th', { scope: 'row', 'data-label': 'Server', class: 'name' }, r.name, r.host);
		r.tr = el('tr', { id: `server-${s.id}` },
			th,
			cell('State', 'state', r.state),
			cell('Health', 'health', r.health, r.healthWhy, r.healthPoll),
			cell('Load', 'load', r.load, r.spark),
			cell('Meetings', 'num', r.meetings),
			cell('Participants', 'num', r.users),
			cell('Voice', 'num', r.voice),
			cell('Video', 'num', r.video),
			cell('Weight', 'num', r.weight),
			cell('Tag', 'tag', r.tag));
		if (!readOnly) {
			const b = el('button', { type: 'button', class: 'manage' }, 'Manage', hidden(` ${s.id}`));
			b.addEventListener('click', () => openManage(s.id, b));
			r.tr.append(cell('Actions', 'actions', b));
		}
		r.tr.tabIndex = -1; // a problem's link focuses it
		drawSpark(r, s.id);
		return r;
	}

	function health(s) {
		if (!s.online) return ['Offline', s.cause || 'not answering its polls yet', 'pill pill-bad'];
		if (s.failing) return ['Failing calls', 'takes no new meetings for now', 'pill pill-warn'];
		return ['Online', s.bbb_version ? `BBB ${s.bbb_version}` : '', 'pill pill-ok'];
	}

	function updateServerRow(r, s) {
		setText(r.name, s.id);
		if (r.url !== s.url) { // parsed once, not every second
			r.url = s.url;
			setText(r.host, hostOf(s.url));
		}
		setText(r.state, s.state);
		setClass(r.state, `pill state-${s.state}`);
		const [h, sub, cls] = health(s);
		setText(r.health, h);
		setClass(r.health, cls);
		setText(r.healthWhy, sub);
		r.healthWhy.title = s.last_error || sub;
		r.healthWhy.hidden = !sub;
		setText(r.healthPoll, `polled ${ago(s.last_poll)}`);
		setText(r.load, load(s.load));
		setText(r.meetings, num(s.meetings));
		setText(r.users, num(s.users));
		setText(r.voice, num(s.voice));
		setText(r.video, num(s.videos));
		setText(r.weight, s.weight);
		setText(r.tag, s.tag || '–');
		const bad = !s.online && s.state !== 'disabled';
		setClass(r.tr, bad ? 'row-bad' : s.failing ? 'row-warn' : s.state !== 'enabled' ? 'row-muted' : '');
	}

	function renderServers(list) {
		syncRows($('#servers-table tbody'), serverRows, list, (s) => s.id, makeServerRow, updateServerRow);
		setText($('#servers-count'), list.length ? `(${list.length})` : '');
		$('#servers-empty').hidden = list.length > 0;
		$('#servers-table').hidden = list.length === 0;
	}

	// drawSpark draws a server's load over the last hour, right-aligned:
	// the newest sample at the right edge.
	function drawSpark(r, id) {
		const vals = history.series[id] || [];
		const svg = r.spark;
		const key = vals.join(',');
		if (svg.dataset.drawn === key) return;
		svg.dataset.drawn = key;
		svg.replaceChildren();
		const top = Math.max(1, ...vals);
		const x = (i) => (i * 120) / Math.max(1, vals.length - 1);
		const y = (v) => 26 - (v / top) * 24;
		if (vals.length > 1) {
			const pts = vals.map((v, i) => `${x(i).toFixed(1)},${y(v).toFixed(1)}`);
			const area = document.createElementNS(SVG, 'path');
			area.setAttribute('d', `M${x(0).toFixed(1)},27 L${pts.join(' L')} L120,27 Z`);
			area.setAttribute('class', 'spark-area');
			const line = document.createElementNS(SVG, 'polyline');
			line.setAttribute('points', pts.join(' '));
			line.setAttribute('class', 'spark-line');
			svg.append(area, line);
		}
		const label = vals.length
			? `Load over ${historySpan(vals.length)}: lowest ${load(Math.min(...vals))}, highest ${load(Math.max(...vals))}`
			: 'No load history yet';
		svg.setAttribute('aria-label', label);
		const title = document.createElementNS(SVG, 'title');
		title.textContent = label;
		svg.prepend(title);
	}

	// historySpan says how far n samples of the history reach back.
	function historySpan(n) {
		const ms = n * (history.step_seconds || 30) * 1000;
		return Math.abs(ms - 3600000) < 60000 ? 'the last hour' : `the last ${span(ms)}`;
	}

	function renderCharts() {
		setText($('#load-span'), `· ${historySpan(history.samples || 120)}`);
		for (const [id, r] of serverRows) drawSpark(r, id);
	}

	// -- meetings

	const meetingRows = new Map();

	function makeMeetingRow(m) {
		const r = {};
		r.name = el('strong');
		r.id = el('span', { class: 'sub mono' });
		r.tenant = el('span');
		r.server = el('a');
		r.users = el('span');
		r.age = el('span');
		r.bridge = el('span', { class: 'mono' });
		r.tr = el('tr', { 'data-key': m.key },
			el('th', { scope: 'row', 'data-label': 'Meeting', class: 'name' }, r.name, r.id),
			cell('Tenant', '', r.tenant),
			cell('Server', '', r.server),
			cell('Participants', 'num', r.users),
			cell('Age', '', r.age),
			cell('Voice bridge', '', r.bridge));
		if (!readOnly) {
			r.end = el('button', { type: 'button', class: 'danger small' }, 'End', r.endLabel = hidden(''));
			r.end.addEventListener('click', () => endMeeting(r.item, r.end));
			r.tr.append(cell('Actions', 'actions', r.end));
		}
		return r;
	}

	function updateMeetingRow(r, m) {
		r.item = m;
		setText(r.name, m.name || m.meeting_id);
		setText(r.id, m.name ? m.meeting_id : '');
		setText(r.tenant, m.tenant || '–');
		setText(r.server, m.server);
		r.server.href = `#server-${m.server}`;
		setText(r.users, num(m.participants));
		setText(r.age, span(Date.now() - Date.parse(m.created)));
		setText(r.bridge, m.voice_bridge || '–');
		if (r.endLabel) setText(r.endLabel, ` meeting ${m.name || m.meeting_id}`);
	}

	function renderMeetings() {
		const pg = query && found ? found : snapshot.meetings;
		const list = pg.meetings || [];
		syncRows($('#meetings-table tbody'), meetingRows, list, (m) => m.key, makeMeetingRow, updateMeetingRow);
		$('#meetings-table').hidden = list.length === 0;
		setText($('#meetings-count'), `(${num(snapshot.meetings.total)})`);
		let note;
		if (query && !found) note = `Searching for “${query}”…`;
		else if (query) note = pg.total ? `${count(pg.total, 'meeting')} match${pg.total === 1 ? 'es' : ''} “${query}”${pg.total > list.length ? `; the ${list.length} largest shown` : ''}.` : `No meeting matches “${query}”.`;
		else if (!pg.total) note = 'No meetings now.';
		else note = pg.total > list.length ? `The ${list.length} largest of ${num(pg.total)} meetings. Search to find any other.` : pg.total === 1 ? 'One meeting.' : `All ${num(pg.total)} meetings, the largest first.`;
		setText($('#meetings-note'), note);
		if (query && Date.now() - foundAt > 5000) search(query);
	}

	let searching = 0;
	async function search(q) {
		const ticket = ++searching;
		foundAt = Date.now();
		try {
			const res = await fetch(`meetings?q=${encodeURIComponent(q)}`, { headers: { Accept: 'application/json' } });
			const data = await res.json();
			if (ticket !== searching) return; // a newer search is on its way
			if (!res.ok) throw new Error(data.error || `HTTP ${res.status}`);
			found = data;
		} catch (err) {
			if (ticket === searching) toast(`Search failed: ${err.message}`, true);
		}
		if (snapshot && ticket === searching) renderMeetings();
	}

	function startSearch(q) {
		query = q.trim();
		found = null;
		if (query) search(query);
		else if (snapshot) renderMeetings();
	}

	// -- tenants

	const tenantRows = new Map();

	function usage(n, max) {
		const text = max ? `${num(n)} of ${num(max)}` : `${num(n)} (no limit)`;
		const bar = el('span', { class: 'meter', 'aria-hidden': 'true' }, el('span'));
		return [el('span', { text }), bar];
	}

	function makeTenantRow(t) {
		const r = { name: el('strong'), m: el('span', { class: 'usage' }), a: el('span', { class: 'usage' }) };
		r.tr = el('tr', {},
			el('th', { scope: 'row', 'data-label': 'Tenant', class: 'name' }, r.name),
			cell('Meetings', '', r.m),
			cell('Participants', '', r.a));
		return r;
	}

	function fill(box, n, max) {
		const key = `${n}/${max}`;
		if (box.dataset.shown === key) return;
		box.dataset.shown = key;
		const [text, bar] = usage(n, max);
		const share = max ? Math.min(1, n / max) : 0;
		bar.firstChild.style.setProperty('width', `${(share * 100).toFixed(1)}%`);
		setClass(bar, share >= 1 ? 'meter meter-full' : share >= 0.8 ? 'meter meter-high' : 'meter');
		box.replaceChildren(text, max ? bar : '');
	}

	function updateTenantRow(r, t) {
		setText(r.name, t.name);
		fill(r.m, t.meetings, t.max_meetings);
		fill(r.a, t.attendees, t.max_attendees);
	}

	function renderTenants(list) {
		syncRows($('#tenants-table tbody'), tenantRows, list, (t) => t.name, makeTenantRow, updateTenantRow);
		$('#tenants-table').hidden = list.length === 0;
		$('#tenants-empty').hidden = list.length > 0;
	}

	// -- recordings

	const failedRows = new Map();

	function makeFailedRow(f) {
		const r = { name: el('span', { class: 'mono' }), reason: el('span'), size: el('span'), time: el('span') };
		r.tr = el('tr', {},
			el('th', { scope: 'row', 'data-label': 'File', class: 'name' }, r.name),
			cell('Reason', 'reason', r.reason),
			cell('Size', 'num', r.size),
			cell('Refused', '', r.time));
		if (!readOnly) {
			const b = el('button', { type: 'button', class: 'small' }, 'Retry', hidden(` ${f.name}`));
			b.addEventListener('click', () => act('retry', { name: f.name }, b));
			r.tr.append(cell('Actions', 'actions', b));
		}
		return r;
	}

	function updateFailedRow(r, f) {
		setText(r.name, f.name);
		setText(r.reason, f.reason || '(no reason recorded)');
		setText(r.size, bytes(f.size));
		setText(r.time, ago(f.time));
	}

	function renderRecordings(rec) {
		$('#recordings-on').hidden = !rec;
		$('#recordings-off').hidden = !!rec;
		if (!rec) return;
		const win = rec.window_seconds >= 3540 ? 'the last hour' : `the last ${span(rec.window_seconds * 1000)}`;
		setText($('#imports-text'), `${num(rec.imported)} imported and ${num(rec.failed)} refused in ${win}.`);
		const chart = $('#imports-chart');
		const bars = rec.per_bucket || [];
		const key = bars.join(',');
		if (chart.dataset.drawn !== key) {
			chart.dataset.drawn = key;
			const top = Math.max(1, ...bars);
			const w = 240 / Math.max(1, bars.length);
			chart.replaceChildren(...bars.map((v, i) => {
				const b = document.createElementNS(SVG, 'rect');
				const h = (v / top) * 36;
				b.setAttribute('x', (i * w + 1).toFixed(1));
				b.setAttribute('width', (w - 2).toFixed(1));
				b.setAttribute('y', (38 - h).toFixed(1));
				b.setAttribute('height', Math.max(h, 0.5).toFixed(1));
				return b;
			}));
			const minutes = Math.round((rec.bucket_seconds || 300) / 60);
			chart.setAttribute('aria-label', `Imports per ${minutes} minutes over the last hour, oldest first: ${bars.join(', ')}`);
		}
		const list = rec.failed_list || [];
		syncRows($('#failed-table tbody'), failedRows, list, (f) => f.name, makeFailedRow, updateFailedRow);
		$('#failed-table').hidden = list.length === 0;
		$('#failed-empty').hidden = list.length > 0;
		setText($('#failed-empty'), rec.failed_error ? `The failed directory could not be read: ${rec.failed_error}` : 'No failed imports.');
		setText($('#failed-count'), rec.failed_total ? `(${num(rec.failed_total)}${rec.failed_total > list.length ? `, the newest ${list.length} shown` : ''})` : '');
	}

	// -- poller and instances

	const instanceRows = new Map();

	function makeInstanceRow() {
		const r = { id: el('strong'), host: el('span'), started: el('span'), seen: el('span'), polls: el('span') };
		r.tr = el('tr', {},
			el('th', { scope: 'row', 'data-label': 'Instance', class: 'name' }, r.id),
			cell('Host', '', r.host),
			cell('Started', '', r.started),
			cell('Last seen', '', r.seen),
			cell('Polls', '', r.polls));
		return r;
	}

	function polls(i) {
		return (i.leases || '').split(',').includes('poller');
	}

	function updateInstanceRow(r, i) {
		setText(r.id, i.self ? `${i.id} (this one)` : i.id);
		setText(r.host, i.host);
		setText(r.started, Date.parse(i.started) > 0 ? ago(i.started) : '–');
		setText(r.seen, i.self ? 'now' : `${span((i.seen_ago || 0) / 1e6)} ago`);
		setText(r.polls, polls(i) ? 'yes, it polls' : 'no');
		setClass(r.polls, polls(i) ? 'pill pill-ok' : '');
	}

	function renderPoller(p) {
		if (!p) return;
		const every = `every ${p.interval_seconds} s`;
		let text;
		if (!p.shared) text = `This balancer polls every server ${every}`;
		else if (p.polls) text = `This instance polls every server ${every} and shares what it sees with the others`;
		else {
			const poller = (p.instances || []).find(polls);
			text = poller ? `Instance ${poller.id} polls every server ${every}; this one applies what it shares` : 'No instance polls now: one takes over when the lease expires';
		}
		text += p.last_poll ? `; the last poll was ${ago(p.last_poll)}.` : '.';
		if (p.instances_error) text += ` The instances could not be read: ${p.instances_error}`;
		setText($('#poller-text'), text);
		syncRows($('#instances-table tbody'), instanceRows, p.instances || [], (i) => i.id, makeInstanceRow, updateInstanceRow);
	}

	// ---- actions --------------------------------------------------------

	let toastTimer = 0;
	function toast(text, bad) {
		const t = $('#toast');
		setClass(t, bad ? 'toast toast-bad' : 'toast');
		t.textContent = text;
		t.hidden = false;
		clearTimeout(toastTimer);
		toastTimer = setTimeout(() => { t.hidden = true; }, bad ? 10000 : 5000);
	}

	// act sends one action; the snapshot that follows shows its effect.
	async function act(action, body, button) {
		if (button) button.disabled = true;
		try {
			const res = await fetch(`actions/${action}`, {
				method: 'POST',
				credentials: 'same-origin',
				headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': token },
				body: JSON.stringify(body),
			});
			const data = await res.json().catch(() => ({}));
			if (!res.ok) throw new Error(data.error || `HTTP ${res.status}`);
			toast(data.message || 'Done.');
			return true;
		} catch (err) {
			toast(err.message, true);
			return false;
		} finally {
			if (button) button.disabled = false;
		}
	}

	// Dialogs are modal (showModal): the page behind them is inert. Tab
	// cycles inside; Escape closes; focus goes back where it came from.
	function focusables(dialog) {
		return [...dialog.querySelectorAll('button, input, a[href], select, textarea')].filter((e) => !e.disabled && !e.hidden && e.offsetParent !== null);
	}
	function trapFocus(dialog) {
		dialog.addEventListener('keydown', (e) => {
			if (e.key !== 'Tab') return;
			const f = focusables(dialog);
			if (!f.length) return;
			const first = f[0];
			const last = f[f.length - 1];
			if (e.shiftKey && document.activeElement === first) {
				e.preventDefault();
				last.focus();
			} else if (!e.shiftKey && document.activeElement === last) {
				e.preventDefault();
				first.focus();
			}
		});
	}
	function openDialog(dialog, opener, focus) {
		dialog.returnTo = opener;
		dialog.showModal();
		(focus || focusables(dialog)[0])?.focus();
	}
	function onClose(dialog) {
		dialog.addEventListener('close', () => {
			const back = dialog.returnTo;
			dialog.returnTo = null;
			if (back && back.isConnected) back.focus();
		});
	}

	// confirm asks before a destructive action; Cancel has the focus.
	function confirmAction(title, text, ok, opener) {
		const dlg = $('#confirm');
		setText($('#confirm-title'), title);
		setText($('#confirm-text'), text);
		setText($('#confirm-ok'), ok);
		dlg.returnValue = '';
		return new Promise((resolve) => {
			dlg.addEventListener('close', () => resolve(dlg.returnValue === 'ok'), { once: true });
			openDialog(dlg, opener, $('#confirm-cancel'));
		});
	}

	let managed = null; // the server the manage dialog is about

	function serverById(id) {
		return (snapshot?.servers || []).find((s) => s.id === id);
	}

	function openManage(id, opener) {
		managed = id;
		const s = serverById(id);
		if (!s) return;
		setText($('#manage-title'), `Server ${id}`);
		const [h] = health(s);
		setText($('#manage-status'), `${hostOf(s.url)} · ${s.state} · ${h.toLowerCase()} · load ${load(s.load)} · ${num(s.meetings)} meetings, ${num(s.users)} participants`);
		for (const b of document.querySelectorAll('#manage [data-act]')) {
			const state = { enable: 'enabled', cordon: 'cordoned', disable: 'disabled' }[b.dataset.act];
			if (state) {
				b.setAttribute('aria-pressed', String(s.state === state));
			}
			b.setAttribute('aria-label', `${b.textContent.replace('…', '')} ${id}`);
		}
		$('#weight').value = s.weight;
		openDialog($('#manage'), opener);
	}

	const warnings = {
		disable: (s) => [`Disable ${s.id}?`, `It takes no meetings at all. Its ${count(s.meetings, 'meeting')} cannot be joined until they are created again on another server.`, `Disable ${s.id}`],
		panic: (s) => [`Panic ${s.id}?`, `This ends its ${count(s.meetings, 'meeting')} now, for ${count(s.users, 'participant')}, and disables it.`, `End its meetings`],
		remove: (s) => [`Remove ${s.id}?`, s.placed_meetings
			? `It has ${count(s.placed_meetings, 'meeting')}: they are forgotten, and placed anew by their next create. It stays removed across reloads.`
			: 'It leaves the pool, and stays removed across reloads.', `Remove ${s.id}`],
	};

	async function manageAction(action, button) {
		const s = serverById(managed);
		if (!s) return;
		const body = { server: s.id };
		if (warnings[action]) {
			const [title, text, ok] = warnings[action](s);
			if (!await confirmAction(title, text, ok, button)) return;
			if (action === 'remove' && s.placed_meetings) body.force = true;
		}
		if (await act(action, body, button)) $('#manage').close();
	}

	async function endMeeting(m, button) {
		const name = m.name || m.meeting_id;
		const ok = await confirmAction(`End meeting ${name}?`,
			`${m.participants === 1 ? 'Its participant' : `Its ${count(m.participants, 'participant')}`} on ${m.server} ${m.participants === 1 ? 'is' : 'are'} sent out now, and the meeting is forgotten.`, 'End the meeting', button);
		if (ok) await act('end', { meeting: m.key }, button);
	}

	function wire() {
		$('#search').addEventListener('submit', (e) => {
			e.preventDefault();
			startSearch($('#q').value);
		});
		let typing = 0;
		$('#q').addEventListener('input', () => {
			clearTimeout(typing);
			typing = setTimeout(() => startSearch($('#q').value), 300);
		});
		if (readOnly) return;
		for (const id of ['#manage', '#confirm']) {
			trapFocus($(id));
			onClose($(id));
		}
		$('#manage [data-close]').addEventListener('click', () => $('#manage').close());
		for (const b of document.querySelectorAll('#manage [data-act]')) {
			b.addEventListener('click', () => manageAction(b.dataset.act, b));
		}
		$('#weight-form').addEventListener('submit', async (e) => {
			e.preventDefault();
			const w = Number($('#weight').value);
			if (await act('weight', { server: managed, weight: w }, e.submitter)) $('#manage').close();
		});
		$('#confirm-cancel').addEventListener('click', () => $('#confirm').close('cancel'));
		$('#confirm-ok').addEventListener('click', () => $('#confirm').close('ok'));
	}

	wire();
	connect();
	setInterval(renderLive, 1000);
})();
