// Host controls on the room page: who is connected, remove one, end the room.
// Loaded only for hosts; the server checks the role again on every request.
(function () {
  'use strict';

  var meta = function (name) {
    var el = document.querySelector('meta[name="' + name + '"]');
    return el ? el.getAttribute('content') : '';
  };
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
    if (body && body.message) return body.message;
    if (resp.status === 401) return 'Your sign-in has expired. Reload the page to sign in again.';
    if (resp.status === 403) return 'Only hosts of this room can do that.';
    return 'Something went wrong (' + resp.status + ').';
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
      name.textContent = p.identity + (p.identity === me ? ' (you)' : '');
      item.appendChild(name);
      if (p.identity !== me) {
        var remove = document.createElement('button');
        remove.type = 'button';
        remove.className = 'secondary';
        remove.textContent = 'Remove';
        remove.setAttribute('aria-label', 'Remove ' + p.identity + ' from the room');
        remove.addEventListener('click', function () { removeParticipant(p.identity, remove); });
        item.appendChild(remove);
      }
      list.appendChild(item);
    });
    say(participants.length === 0
      ? 'Nobody is connected right now.'
      : participants.length + (participants.length === 1 ? ' person' : ' people') + ' connected.');
  }

  function refresh() {
    call('GET', '/rooms/' + room + '/participants').then(function (r) {
      if (r.resp.ok && r.body) render(r.body.participants || []);
      else say(describe(r.resp, r.body));
    }).catch(function () {
      say('Could not reach roomgate to list participants.');
    });
  }

  function removeParticipant(identity, button) {
    if (!window.confirm('Remove ' + identity + ' from the room? They cannot rejoin for 10 minutes.')) return;
    button.disabled = true;
    call('POST', '/rooms/' + room + '/participants/' + encodeURIComponent(identity) + '/remove')
      .then(function (r) {
        say(r.resp.ok ? identity + ' was removed.' : describe(r.resp, r.body));
        refresh();
      })
      .catch(function () { say('Could not reach roomgate.'); button.disabled = false; });
  }

  endButton.addEventListener('click', function () {
    if (!window.confirm('End the room for everyone?')) return;
    endButton.disabled = true;
    call('POST', '/rooms/' + room + '/end').then(function (r) {
      say(r.resp.ok ? 'The room has ended.' : describe(r.resp, r.body));
      if (!r.resp.ok) endButton.disabled = false;
    }).catch(function () { say('Could not reach roomgate.'); endButton.disabled = false; });
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
