// The recordings page: Play and Download ask roomgate for a link valid for seconds
// (a POST with the CSRF header, audited) and open it at once. The link never sits in
// the page's HTML, and nothing keeps it.
(function () {
  'use strict';

  const meta = (name) => {
    const el = document.querySelector('meta[name="' + name + '"]');
    return el ? el.getAttribute('content') : '';
  };
  const table = document.getElementById('recordings');
  const status = document.getElementById('recordings-status');
  if (!table || !status) return;

  table.addEventListener('click', async (event) => {
    const button = event.target.closest('button[data-action]');
    if (!button) return;
    const id = button.closest('tr').dataset.id;
    const action = button.dataset.action;
    button.disabled = true;
    status.textContent = '';
    try {
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
      // Top-level navigation: a download stays on this page, a play opens the file.
      window.location.assign(body.url);
    } catch (e) {
      status.textContent = status.dataset.failed + ' (' + e.message + ')';
    } finally {
      button.disabled = false;
    }
  });
})();
