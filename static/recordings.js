// The recordings page: Play and Download ask roomgate for a link valid for seconds
// (a POST with the CSRF header, audited). The link never sits in the page's HTML,
// and nothing keeps it.
//
// Download opens the link at once. Play opens it in a player on this page rather
// than the browser's own page for the file: the browser asks for more of the file as
// it plays and seeks, and once the link has expired (seconds, by design) those
// requests are refused. Here the player, when it loses the file, asks roomgate for a
// new link and goes on from where it was.
(function () {
  'use strict';

  const meta = (name) => {
    const el = document.querySelector('meta[name="' + name + '"]');
    return el ? el.getAttribute('content') : '';
  };
  const table = document.getElementById('recordings');
  const status = document.getElementById('recordings-status');
  const player = document.getElementById('recordings-player');
  if (!table || !status) return;

  // A new link for recording `id`; throws with the status on failure.
  const link = async (id, action) => {
    const resp = await fetch(
      '/rooms/' + encodeURIComponent(meta('room')) + '/recordings/' + encodeURIComponent(id) + '/' + action,
      {
        method: 'POST',
        headers: { Accept: 'application/json', 'X-CSRF-Token': meta('csrf-token') },
        credentials: 'same-origin',
      },
    );
    const body = await resp.json().catch(() => null);
    if (!resp.ok || !body || !body.url) throw new Error(String(resp.status));
    return body.url;
  };

  const say = (message, detail) => {
    status.textContent = message + ' (' + detail + ')';
  };

  const video = player ? player.querySelector('video') : null;
  const state = {
    id: null,
    // Which opening of the player this is: what a link asked for by an earlier one
    // (closed since, or another recording opened) must not touch.
    opening: 0,
    // Where the host is in the file and whether it plays: what a new link resumes.
    at: 0,
    playing: false,
    // A new link is being asked for.
    renewing: false,
    // Renewals since the file last played or reached a position: a new link that
    // loses the file again before either means it isn't the link (the file was
    // deleted, the bucket refuses), so the player stops there and says so.
    tries: 0,
  };

  // Stops whatever the player was doing; the next opening starts afresh.
  const reset = () => {
    state.id = null;
    state.opening += 1;
    state.renewing = false;
    state.tries = 0;
    video.pause();
    video.removeAttribute('src');
    video.load();
  };

  const open = async (id, label) => {
    reset();
    const opening = state.opening;
    const url = await link(id, 'play');
    if (opening !== state.opening) return;
    // An http bucket can't serve a player on an https page (mixed content): the
    // browser's own page for the file instead, as before the player.
    if (window.location.protocol === 'https:' && new URL(url, window.location.href).protocol === 'http:') {
      window.location.assign(url);
      return;
    }
    Object.assign(state, { id, at: 0, playing: true });
    video.setAttribute('aria-label', label);
    video.src = url;
    player.hidden = false;
    video.focus();
    video.play().catch(() => {});
  };

  // Carry on where the host was, on a new link.
  const renew = async () => {
    if (!state.id || state.renewing) return;
    if (state.tries >= 1) {
      say(status.dataset.playFailed, 'media ' + (video.error ? video.error.code : '?'));
      return;
    }
    state.tries += 1;
    state.renewing = true;
    const { opening, at, playing } = state;
    let url;
    try {
      url = await link(state.id, 'play');
    } catch (e) {
      if (opening === state.opening) {
        state.renewing = false;
        say(status.dataset.failed, e.message);
      }
      return;
    }
    if (opening !== state.opening) return;
    state.renewing = false;
    video.addEventListener(
      'loadedmetadata',
      () => {
        if (opening !== state.opening) return;
        video.currentTime = at;
        if (playing) video.play().catch(() => {});
      },
      { once: true },
    );
    video.src = url;
  };

  if (video) {
    const note = () => {
      // Not while a new link loads, nor from the pause that losing the file brings.
      if (state.renewing || video.readyState === 0 || video.error) return;
      state.at = video.currentTime;
      state.playing = !video.paused;
    };
    // The file plays, or a seek reached its place: the link works.
    const working = () => {
      if (!state.renewing) state.tries = 0;
    };
    video.addEventListener('timeupdate', note);
    video.addEventListener('seeking', note);
    video.addEventListener('pause', note);
    video.addEventListener('play', note);
    video.addEventListener('playing', working);
    video.addEventListener('seeked', working);
    video.addEventListener('error', renew);
    const close = player.querySelector('button[data-action="close"]');
    if (close) {
      close.addEventListener('click', () => {
        reset();
        player.hidden = true;
      });
    }
  }

  table.addEventListener('click', async (event) => {
    const button = event.target.closest('button[data-action]');
    if (!button) return;
    const row = button.closest('tr');
    const id = row.dataset.id;
    const action = button.dataset.action;
    button.disabled = true;
    status.textContent = '';
    try {
      if (action === 'play' && video) {
        await open(id, row.dataset.label || '');
      } else {
        // A download stays on this page.
        window.location.assign(await link(id, action));
      }
    } catch (e) {
      say(status.dataset.failed, e.message);
    } finally {
      button.disabled = false;
    }
  });
})();
