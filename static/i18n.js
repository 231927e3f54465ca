// The room page's texts in its language, shared by room.js and host.js (loaded
// before them by templates/room.html). They come from the page's #i18n JSON data
// block (data, never run: the strict CSP allows no inline script). Every lookup
// carries its English text, used when the block lacks the message.
(function () {
  'use strict';

  // The page's language's texts, by message id.
  const messages = (() => {
    const el = document.getElementById('i18n');
    try {
      const parsed = el ? JSON.parse(el.textContent) : null;
      return parsed && typeof parsed === 'object' ? parsed : {};
    } catch (e) {
      return {};
    }
  })();
  const pluralRules = (() => {
    try {
      return new Intl.PluralRules(document.documentElement.lang || 'en');
    } catch (e) {
      return null;
    }
  })();

  // "{name}" placeholders filled from params.
  const fill = (text, params) =>
    String(text).replace(/\{(\w+)\}/g, (whole, name) =>
      params && Object.prototype.hasOwnProperty.call(params, name) ? String(params[name]) : whole
    );

  const lookup = (id, english) => (typeof messages[id] === 'string' ? messages[id] : english);

  // t('script-connected', 'Connected to {room}', { room: 'standup' })
  const t = (id, english, params) => fill(lookup(id, english), params);

  // The plural form for `count`: the data block has `id.one` and `id.other`.
  const tn = (id, count, englishOne, englishOther, params) => {
    const form = pluralRules ? pluralRules.select(count) : count === 1 ? 'one' : 'other';
    const key = id + (form === 'one' ? '.one' : '.other');
    return fill(lookup(key, count === 1 ? englishOne : englishOther), params);
  };

  // Translation only: nothing secret lives here.
  window.roomgateI18n = Object.freeze({ t, tn });
})();
