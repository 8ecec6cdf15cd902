// Administration, Overview: the server's statistics (GET /api/admin/stats): people active
// over a day, a week and a month, messages per day for 30 days (a chart drawn in SVG, and
// the same numbers as a table for those who do not see it), storage and open connections.
import { fileSize } from "../../files.js";
import { plural } from "../../format.js";
import { html, useEffect, useState } from "../../lib/html.js";
import { call } from "../../session.js";

const DAY = new Intl.DateTimeFormat(undefined, { day: "numeric", month: "short", timeZone: "UTC" });
const LONG_DAY = new Intl.DateTimeFormat(undefined, { dateStyle: "full", timeZone: "UTC" });
const NUMBER = new Intl.NumberFormat();
// The chart's drawing units: one bar per day, with a gap.
const BAR = 10;
const GAP = 3;
const HEIGHT = 100;

const dayOf = (iso) => new Date(`${iso}T00:00:00Z`);

function Figure({ label, value, detail }) {
  return html`<div class="admin-stat">
    <dt>${label}</dt>
    <dd><span class="admin-stat-value">${value}</span>${detail && html`<span class="muted">${detail}</span>`}</dd>
  </div>`;
}

function Chart({ days }) {
  const top = Math.max(1, ...days.map((d) => d.count));
  const total = days.reduce((sum, d) => sum + d.count, 0);
  const width = days.length * BAR;
  const first = days[0];
  const last = days[days.length - 1];
  const summary =
    `${plural(total, "message")} from ${LONG_DAY.format(dayOf(first.date))} to ` +
    `${LONG_DAY.format(dayOf(last.date))}, at most ${NUMBER.format(top)} a day.`;
  return html`<figure class="admin-chart">
    <figcaption id="admin-chart-caption">Messages per day, last ${days.length} days (UTC)</figcaption>
    <svg viewBox=${`0 0 ${width} ${HEIGHT}`} preserveAspectRatio="none" role="img"
      aria-labelledby="admin-chart-caption admin-chart-summary" focusable="false">
      ${days.map((d, i) => {
        const height = d.count ? Math.max(1, (d.count / top) * HEIGHT) : 0;
        return html`<rect key=${d.date} class="admin-bar" x=${i * BAR + GAP / 2} y=${HEIGHT - height}
          width=${BAR - GAP} height=${height}><title>${DAY.format(dayOf(d.date))}: ${NUMBER.format(d.count)}</title></rect>`;
      })}
      <line class="admin-axis" x1="0" y1=${HEIGHT} x2=${width} y2=${HEIGHT} />
    </svg>
    <div class="admin-chart-ends" aria-hidden="true">
      <span>${DAY.format(dayOf(first.date))}</span><span>${DAY.format(dayOf(last.date))}</span>
    </div>
    <p class="hint" id="admin-chart-summary">${summary}</p>
    <details class="admin-chart-table">
      <summary>The numbers as a table</summary>
      <table class="admin-table compact">
        <caption class="visually-hidden">Messages per day</caption>
        <thead><tr><th scope="col">Day (UTC)</th><th scope="col">Messages</th></tr></thead>
        <tbody>
          ${days.map(
            (d) => html`<tr key=${d.date}>
              <th scope="row"><time datetime=${d.date}>${LONG_DAY.format(dayOf(d.date))}</time></th>
              <td>${NUMBER.format(d.count)}</td>
            </tr>`,
          )}
        </tbody>
      </table>
    </details>
  </figure>`;
}

export function AdminOverview() {
  const [stats, setStats] = useState(null);
  const [error, setError] = useState(null);
  const [round, setRound] = useState(0);

  useEffect(() => {
    let current = true;
    setError(null);
    call("/api/admin/stats").then(
      (answer) => current && setStats(answer),
      (caught) => current && setError(caught.message),
    );
    return () => {
      current = false;
    };
  }, [round]);

  const users = stats?.users;
  return html`<section class="admin-section admin-overview" aria-labelledby="admin-overview-title"
    aria-busy=${stats === null && !error ? "true" : "false"}>
    <div class="admin-section-head">
      <h2 id="admin-overview-title">Overview</h2>
      <button type="button" class="secondary small" onClick=${() => setRound((n) => n + 1)}>Refresh</button>
    </div>
    ${error && html`<p class="form-error" role="alert">${error}</p>`}
    ${stats === null
      ? !error && html`<p class="muted">Loading…</p>`
      : html`
          <h3>People</h3>
          <dl class="admin-stats">
            <${Figure} label="Active today" value=${NUMBER.format(users.active_1d)} detail="seen in the last 24 hours" />
            <${Figure} label="Active this week" value=${NUMBER.format(users.active_7d)} detail="seen in the last 7 days" />
            <${Figure} label="Active this month" value=${NUMBER.format(users.active_30d)} detail="seen in the last 30 days" />
            <${Figure} label="Accounts" value=${NUMBER.format(users.total)}
              detail=${`${NUMBER.format(users.total - users.active)} deactivated`} />
          </dl>
          <h3>Messages</h3>
          <${Chart} days=${stats.messages_per_day} />
          <h3>Server</h3>
          <dl class="admin-stats">
            <${Figure} label="Storage used" value=${fileSize(stats.storage.files_bytes)}
              detail=${plural(stats.storage.files, "file")} />
            <${Figure} label="Open connections" value=${NUMBER.format(stats.sockets.open)}
              detail=${`${plural(stats.sockets.users_online, "person", "people")} online`} />
          </dl>
        `}
  </section>`;
}
