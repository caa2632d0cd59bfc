// The dashboard's only script: applies the server's pushed updates (server-sent events) to the
// page's live regions, keeps ages and run times current from the local clock, and sends cancel
// without leaving the page. Without it the pages still work, just not live. Durations are
// formatted by the server's own module (bundled in: src/ui/assets.ts).
import { formatDuration } from '../format.ts';

(() => {
  const tick = () => {
    const now = Date.now();
    for (const el of document.querySelectorAll('time[data-age]')) {
      const at = Date.parse(el.getAttribute('datetime') ?? '');
      if (!Number.isNaN(at)) el.textContent = `${formatDuration(now - at)} ago`;
    }
    for (const el of document.querySelectorAll('[data-run-from]')) {
      const from = Date.parse(el.getAttribute('data-run-from') ?? '');
      if (!Number.isNaN(from)) el.textContent = formatDuration(now - from);
    }
  };
  setInterval(tick, 1000);

  const status = document.querySelector('[data-live-status]');
  const say = (text) => {
    if (status && status.textContent !== text) status.textContent = text;
  };

  const events = document.body.dataset.events;
  if (events && 'EventSource' in window) {
    const last = new Map();
    const source = new EventSource(events);
    source.addEventListener('open', () => say('Live'));
    source.addEventListener('error', () => say('Reconnecting…'));
    source.addEventListener('update', (event) => {
      const { regions } = JSON.parse(event.data);
      for (const [name, markup] of Object.entries(regions)) {
        if (last.get(name) === markup) continue;
        last.set(name, markup);
        for (const el of document.querySelectorAll(`[data-region="${name}"]`)) {
          el.innerHTML = markup;
        }
      }
      tick();
      document.body.dataset.updated = String(Date.now());
    });
    source.addEventListener('failure', (event) => {
      say(`Live updates stopped: ${JSON.parse(event.data).message}`);
      source.close();
    });
    window.addEventListener('pagehide', () => source.close());
  }

  document.addEventListener('submit', (event) => {
    const form = event.target;
    if (!(form instanceof HTMLFormElement) || !form.matches('form[data-cancel]')) return;
    event.preventDefault();
    const button = form.querySelector('button');
    const result = document.querySelector('.cancel-result');
    if (button) button.disabled = true;
    fetch(form.action, { method: 'POST', headers: { accept: 'application/json' } })
      .then(async (res) => {
        const body = await res.json();
        if (result) result.textContent = body.message ?? body.error ?? `HTTP ${res.status}`;
        if (!res.ok && button) button.disabled = false;
      })
      .catch((err) => {
        if (result) result.textContent = `Cancel failed: ${err.message}`;
        if (button) button.disabled = false;
      });
  });
})();
