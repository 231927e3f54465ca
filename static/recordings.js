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

  const failed = (e) => {
    status.textContent = status.dataset.failed + ' (' + e.message + ')';
  };

  // Losing the file again this soon after a new link means it isn't the link: stop
  // asking (a file deleted meanwhile, a storage that refuses) and say so.
  const GIVE_UP_WITHIN_MS = 3000;

  const video = player ? player.querySelector('video') : null;
  const state = {
    id: null,
    // Where the host is in the file and whether it plays: what a new link resumes.
    at: 0,
    playing: false,
    renewedAt: 0,
    renewing: false,
  };

  const open = async (id, label) => {
    const url = await link(id, 'play');
    state.id = id;
    state.at = 0;
    state.playing = true;
    state.renewedAt = 0;
    video.setAttribute('aria-label', label);
    video.src = url;
    player.hidden = false;
    video.focus();
    video.play().catch(() => {});
  };

  // Carry on where the host was, on a new link.
  const renew = async () => {
    if (!state.id || state.renewing) return;
    if (Date.now() - state.renewedAt < GIVE_UP_WITHIN_MS) {
      failed(new Error('media ' + (video.error ? video.error.code : '?')));
      return;
    }
    state.renewing = true;
    const { at, playing } = state;
    try {
      const url = await link(state.id, 'play');
      state.renewedAt = Date.now();
      video.src = url;
      video.addEventListener(
        'loadedmetadata',
        () => {
          video.currentTime = at;
          if (playing) video.play().catch(() => {});
        },
        { once: true },
      );
    } catch (e) {
      failed(e);
    } finally {
      state.renewing = false;
    }
  };

  if (video) {
    const note = () => {
      // Not while a new link loads, nor from the pause that losing the file brings.
      if (state.renewing || video.readyState === 0 || video.error) return;
      state.at = video.currentTime;
      state.playing = !video.paused;
    };
    video.addEventListener('timeupdate', note);
    video.addEventListener('seeking', note);
    video.addEventListener('pause', note);
    video.addEventListener('play', note);
    video.addEventListener('error', renew);
    const close = player.querySelector('button[data-action="close"]');
    if (close) {
      close.addEventListener('click', () => {
        state.id = null;
        video.pause();
        video.removeAttribute('src');
        video.load();
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
      failed(e);
    } finally {
      button.disabled = false;
    }
  });
})();
