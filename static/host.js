// Host controls on the room page: who is connected, remove one, end the room.
// Loaded only for hosts; the server checks the role again on every request.
(function () {
  'use strict';

  var meta = function (name) {
    var el = document.querySelector('meta[name="' + name + '"]');
    return el ? el.getAttribute('content') : '';
  };
  // Texts in the page's language, from the page's #i18n data block (see room.js);
  // every lookup carries its English text for a message the block lacks.
  var messages = (function () {
    var el = document.getElementById('i18n');
    try {
      var parsed = el ? JSON.parse(el.textContent) : null;
      return parsed && typeof parsed === 'object' ? parsed : {};
    } catch (e) {
      return {};
    }
  })();
  var pluralRules = (function () {
    try {
      return new Intl.PluralRules(document.documentElement.lang || 'en');
    } catch (e) {
      return null;
    }
  })();
  function fill(text, params) {
    return String(text).replace(/\{(\w+)\}/g, function (whole, name) {
      return params && Object.prototype.hasOwnProperty.call(params, name) ? String(params[name]) : whole;
    });
  }
  function t(id, english, params) {
    return fill(typeof messages[id] === 'string' ? messages[id] : english, params);
  }
  function tn(id, count, englishOne, englishOther, params) {
    var form = pluralRules ? pluralRules.select(count) : count === 1 ? 'one' : 'other';
    var key = id + (form === 'one' ? '.one' : '.other');
    var english = count === 1 ? englishOne : englishOther;
    return fill(typeof messages[key] === 'string' ? messages[key] : english, params);
  }

  var room = meta('room');
  var me = meta('identity');
  var status = document.getElementById('host-status');
  var list = document.getElementById('host-participants');
  var endButton = document.getElementById('end-room');
  if (!status || !list || !endButton) return;

  var POLL_MS = 5000;
  var timer = null;

  function say(text) {
    status.textContent = text;
  }

  function describe(resp, body) {
    var code = body && body.error;
    if (code === 'no_video_service') return t('host-no-video-service', 'No video service is configured (local mode).');
    if (code === 'video_unavailable') return t('host-video-unavailable', 'The video service could not be reached.');
    if (body && body.message) return body.message;
    if (resp.status === 401) return t('host-sign-in-expired', 'Your sign-in has expired. Reload the page to sign in again.');
    if (resp.status === 403) return t('host-only-hosts', 'Only hosts of this room can do that.');
    return t('host-failed', 'Something went wrong ({status}).', { status: resp.status });
  }

  function call(method, path) {
    var headers = { Accept: 'application/json' };
    if (method === 'POST') headers['X-CSRF-Token'] = meta('csrf-token');
    return fetch(path, { method: method, headers: headers, credentials: 'same-origin' }).then(
      function (resp) {
        return resp.json().catch(function () { return null; }).then(function (body) {
          return { resp: resp, body: body };
        });
      }
    );
  }

  function render(participants) {
    list.textContent = '';
    participants.forEach(function (p) {
      var item = document.createElement('li');
      var name = document.createElement('span');
      name.textContent = p.identity === me ? t('room-you', '{name} (you)', { name: p.identity }) : p.identity;
      item.appendChild(name);
      if (p.identity !== me) {
        var remove = document.createElement('button');
        remove.type = 'button';
        remove.className = 'secondary';
        remove.textContent = t('host-remove', 'Remove');
        remove.setAttribute('aria-label', t('host-remove-label', 'Remove {name} from the room', { name: p.identity }));
        remove.addEventListener('click', function () { removeParticipant(p.identity, remove); });
        item.appendChild(remove);
      }
      list.appendChild(item);
    });
    var n = participants.length;
    say(n === 0
      ? t('host-nobody', 'Nobody is connected right now.')
      : tn('host-connected-count', n, '{n} person connected.', '{n} people connected.', { n: n }));
  }

  function refresh() {
    call('GET', '/rooms/' + room + '/participants').then(function (r) {
      if (r.resp.ok && r.body) render(r.body.participants || []);
      else say(describe(r.resp, r.body));
    }).catch(function () {
      say(t('host-list-unreachable', 'Could not reach roomgate to list participants.'));
    });
  }

  function removeParticipant(identity, button) {
    var question = t('host-confirm-remove', 'Remove {name} from the room? They cannot rejoin for 10 minutes.', {
      name: identity,
    });
    if (!window.confirm(question)) return;
    button.disabled = true;
    call('POST', '/rooms/' + room + '/participants/' + encodeURIComponent(identity) + '/remove')
      .then(function (r) {
        say(r.resp.ok ? t('host-removed', '{name} was removed.', { name: identity }) : describe(r.resp, r.body));
        refresh();
      })
      .catch(function () { say(t('script-unreachable', 'Could not reach roomgate.')); button.disabled = false; });
  }

  endButton.addEventListener('click', function () {
    if (!window.confirm(t('host-confirm-end', 'End the room for everyone?'))) return;
    endButton.disabled = true;
    call('POST', '/rooms/' + room + '/end').then(function (r) {
      say(r.resp.ok ? t('script-room-ended', 'The room has ended.') : describe(r.resp, r.body));
      if (!r.resp.ok) endButton.disabled = false;
    }).catch(function () { say(t('script-unreachable', 'Could not reach roomgate.')); endButton.disabled = false; });
  });

  function start() {
    refresh();
    timer = window.setInterval(function () {
      if (!document.hidden) refresh();
    }, POLL_MS);
  }
  window.addEventListener('pagehide', function () { if (timer) window.clearInterval(timer); });
  start();
})();
