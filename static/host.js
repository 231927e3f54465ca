// Host controls on the room page: who is connected, remove one, end the room.
// Loaded only for hosts; the server checks the role again on every request.
(function () {
  'use strict';

  const meta = (name) => {
    const el = document.querySelector('meta[name="' + name + '"]');
    return el ? el.getAttribute('content') : '';
  };
  // Texts in the page's language (static/i18n.js, loaded first); every lookup
  // carries its English text for a message the page lacks.
  const { t, tn } = window.roomgateI18n;

  const room = meta('room');
  const me = meta('identity');
  const status = document.getElementById('host-status');
  const count = document.getElementById('host-count');
  const list = document.getElementById('host-participants');
  const endButton = document.getElementById('end-room');
  if (!status || !count || !list || !endButton) return;

  const POLL_MS = 5000;
  let timer = null;

  // What an action did, or why a listing failed: read out, once (the same text
  // again is left alone, so a failing poll isn't read out every few seconds).
  function say(text) {
    if (status.textContent !== text) status.textContent = text;
  }

  function describe(resp, body) {
    const code = body && body.error;
    if (code === 'no_video_service') return t('host-no-video-service', 'No video service is configured (local mode).');
    if (code === 'video_unavailable') return t('host-video-unavailable', 'The video service could not be reached.');
    // Never the body's `message`: it is English, for API clients.
    if (code === 'store_unavailable' || resp.status === 503) return t('host-busy', 'The service is busy. Please try again shortly.');
    if (code === 'csrf') return t('script-stale-page', 'This page is out of date. Reload it to continue.');
    if (resp.status === 401) return t('host-sign-in-expired', 'Your sign-in has expired. Reload the page to sign in again.');
    if (resp.status === 403) return t('host-only-hosts', 'Only hosts of this room can do that.');
    return t('host-failed', 'Something went wrong ({status}).', { status: resp.status });
  }

  function call(method, path) {
    const headers = { Accept: 'application/json' };
    if (method === 'POST') headers['X-CSRF-Token'] = meta('csrf-token');
    return fetch(path, { method, headers, credentials: 'same-origin' }).then((resp) =>
      resp
        .json()
        .catch(() => null)
        .then((body) => ({ resp, body }))
    );
  }

  function render(participants) {
    list.textContent = '';
    participants.forEach((p) => {
      const item = document.createElement('li');
      const name = document.createElement('span');
      name.textContent = p.identity === me ? t('room-you', '{name} (you)', { name: p.identity }) : p.identity;
      item.appendChild(name);
      if (p.identity !== me) {
        const remove = document.createElement('button');
        remove.type = 'button';
        remove.className = 'secondary';
        remove.textContent = t('host-remove', 'Remove');
        remove.setAttribute('aria-label', t('host-remove-label', 'Remove {name} from the room', { name: p.identity }));
        remove.addEventListener('click', () => removeParticipant(p.identity, remove));
        item.appendChild(remove);
      }
      list.appendChild(item);
    });
    const n = participants.length;
    count.textContent = n === 0
      ? t('host-nobody', 'Nobody is connected right now.')
      : tn('host-connected-count', n, '{n} person connected.', '{n} people connected.', { n });
  }

  // One listing at a time: a slow one (the Video API paging slowly) is not joined
  // by the next poll's, which would pile up and take the browser's connections to
  // the site from the room page's own requests.
  let listing = false;
  let listingFailed = false;
  function refresh() {
    if (listing) return;
    listing = true;
    call('GET', '/rooms/' + room + '/participants').then((r) => {
      if (r.resp.ok && r.body) {
        render(r.body.participants || []);
        // A listing's failure said before is over.
        if (listingFailed) say('');
        listingFailed = false;
      } else {
        say(describe(r.resp, r.body));
        listingFailed = true;
      }
    }).catch(() => {
      say(t('host-list-unreachable', 'Could not reach roomgate to list participants.'));
      listingFailed = true;
    }).finally(() => { listing = false; });
  }

  function removeParticipant(identity, button) {
    const question = t('host-confirm-remove', 'Remove {name} from the room? They cannot rejoin for 10 minutes.', {
      name: identity,
    });
    if (!window.confirm(question)) return;
    button.disabled = true;
    call('POST', '/rooms/' + room + '/participants/' + encodeURIComponent(identity) + '/remove')
      .then((r) => {
        say(r.resp.ok ? t('host-removed', '{name} was removed.', { name: identity }) : describe(r.resp, r.body));
        refresh();
      })
      .catch(() => { say(t('script-unreachable', 'Could not reach roomgate.')); button.disabled = false; });
  }

  // Start and Stop recording, for rooms whose setting lets hosts choose. The page
  // (static/room.js) says whether it is recording now; the buttons follow it.
  const startRecording = document.getElementById('recording-start');
  const stopRecording = document.getElementById('recording-stop');

  // Set from a press of Start or Stop until the other one shows: the button pressed
  // goes (disabled while it waits, it has lost focus already), and focus moves to
  // the one taking its place.
  let focusFollows = false;

  function syncRecording(on) {
    if (!startRecording || !stopRecording) return;
    startRecording.hidden = on;
    stopRecording.hidden = !on;
    const shown = on ? stopRecording : startRecording;
    if (focusFollows && !shown.disabled) {
      shown.focus();
      focusFollows = false;
    }
  }

  function setRecording(action, button) {
    focusFollows = document.activeElement === button;
    button.disabled = true;
    call('POST', '/rooms/' + room + '/recording/' + action).then((r) => {
      button.disabled = false;
      if (r.resp.ok && r.body) {
        const on = r.body.recording === true;
        if (window.roomgate && window.roomgate.showRecording) window.roomgate.showRecording(on);
        syncRecording(on);
        say(on
          ? t('host-recording-started', 'Recording started. Everyone in the room sees that it is being recorded.')
          : t('host-recording-stopped', 'Recording stopped.'));
      } else if (r.body && r.body.error === 'recording_not_host') {
        say(t('host-recording-not-allowed', "This room's settings don't let hosts start or stop recording."));
      } else {
        say(describe(r.resp, r.body));
      }
      // Refused: the same button is back, and so is focus.
      if (focusFollows && !button.hidden) button.focus();
      focusFollows = false;
    }).catch(() => {
      say(t('script-unreachable', 'Could not reach roomgate.'));
      button.disabled = false;
      if (focusFollows) button.focus();
      focusFollows = false;
    });
  }

  if (startRecording && stopRecording) {
    startRecording.addEventListener('click', () => setRecording('start', startRecording));
    stopRecording.addEventListener('click', () => setRecording('stop', stopRecording));
    document.addEventListener('roomgate:recording', (event) => syncRecording(event.detail.recording));
  }

  endButton.addEventListener('click', () => {
    if (!window.confirm(t('host-confirm-end', 'End the room for everyone?'))) return;
    endButton.disabled = true;
    call('POST', '/rooms/' + room + '/end').then((r) => {
      say(r.resp.ok ? t('script-room-ended', 'The room has ended.') : describe(r.resp, r.body));
      if (!r.resp.ok) endButton.disabled = false;
    }).catch(() => { say(t('script-unreachable', 'Could not reach roomgate.')); endButton.disabled = false; });
  });

  function start() {
    refresh();
    timer = window.setInterval(() => {
      if (!document.hidden) refresh();
    }, POLL_MS);
  }
  window.addEventListener('pagehide', () => { if (timer) window.clearInterval(timer); });
  start();
})();
