import { html, type SafeHtml } from './html.ts';

export interface PageOptions {
  title: string;
  /** Which navigation entry is the current page. */
  current: 'jobs' | 'job' | 'publish';
  /** Where the page's live updates come from (an event-stream URL); none for a static page. */
  events?: string;
  /** Shows the publish link (only under `jobbridge dev`). */
  canPublish: boolean;
  body: SafeHtml;
}

/** The page shell: one stylesheet, one script, both served by this server (no CDN). */
export function page(options: PageOptions): string {
  const nav = (href: string, label: string, current: boolean) =>
    html`<a href="${href}" ${current ? html` aria-current="page"` : ''}>${label}</a>`;
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${options.title} · jobbridge</title>
<link rel="stylesheet" href="/assets/app.css">
<script src="/assets/app.js" defer></script>
</head>
<body${options.events ? html` data-events="${options.events}"` : ''}>
<a class="skip" href="#main">Skip to content</a>
<header class="top">
<span class="brand">jobbridge</span>
<nav aria-label="Main">${nav('/', 'Jobs', options.current === 'jobs')}${
    options.canPublish ? nav('/publish', 'Publish', options.current === 'publish') : ''
  }</nav>
<span class="live" data-live-status role="status" aria-live="polite"></span>
</header>
<main id="main">
${options.body}
</main>
</body>
</html>
`.value;
}
