/**
 * The dashboard's styles, served as a stylesheet (a Content-Security-Policy of 'self' refuses
 * inline styles). One column on a phone; the numbers and charts fill the width in as many
 * columns as fit. Nothing may be wider than the screen: tables scroll inside their own box.
 */
export const DASHBOARD_CSS = `
:root {
  color-scheme: light;
  --ink: #1f2933;
  --muted: #5f6b7a;
  --line: #dde2e8;
  --panel: #ffffff;
  --ground: #f3f5f8;
  --accent: #1565c0;
  --good: #2e7d32;
  --bad: #c62828;
  font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
  font-size: 15px;
  line-height: 1.4;
  color: var(--ink);
  background: var(--ground);
}
*, *::before, *::after { box-sizing: border-box; }
body { margin: 0; }
[hidden] { display: none !important; }
a { color: var(--accent); }
h1, h2, h3 { margin: 0; font-weight: 600; }
h1 { font-size: 1.25rem; }
h1 span { color: var(--muted); font-weight: 400; }
h2 { font-size: 1.1rem; }
h3 { font-size: 1rem; margin-bottom: 0.5rem; }
h3 small { color: var(--muted); font-weight: 400; font-size: 0.85rem; margin-left: 0.25rem; }

.bar {
  display: flex; flex-wrap: wrap; align-items: center; gap: 0.5rem 1.25rem;
  padding: 0.75rem clamp(0.75rem, 3vw, 2rem);
  background: var(--panel); border-bottom: 1px solid var(--line);
}
.connection { margin: 0; flex: 1 1 16rem; color: var(--muted); font-size: 0.9rem; min-width: 0; overflow-wrap: anywhere; }
.connection::before {
  content: ""; display: inline-block; width: 0.6rem; height: 0.6rem; border-radius: 50%;
  margin-right: 0.4rem; background: #b0bac5; vertical-align: 0.05rem;
}
.connection[data-state="live"]::before { background: var(--good); }
.connection[data-state="error"]::before { background: var(--bad); }
.bar-tools { display: flex; align-items: center; gap: 1rem; font-size: 0.9rem; }
select, input, button { font: inherit; }
select, input[type="number"], input[type="password"] {
  padding: 0.3rem 0.45rem; border: 1px solid var(--line); border-radius: 6px; background: #fff; color: var(--ink);
}

main { padding: 1rem clamp(0.75rem, 3vw, 2rem) 2rem; display: grid; gap: 1rem; }

.numbers { display: grid; grid-template-columns: repeat(auto-fill, minmax(min(100%, 10.5rem), 1fr)); gap: 0.75rem; }
.number {
  display: flex; flex-direction: column; min-width: 0;
  padding: 0.7rem 0.9rem; background: var(--panel); border: 1px solid var(--line); border-radius: 10px;
}
.number .label { font-size: 0.8rem; color: var(--muted); text-transform: uppercase; letter-spacing: 0.03em; }
.number .value {
  font-size: clamp(1.5rem, 3.2vw, 2rem); font-weight: 650; font-variant-numeric: tabular-nums; line-height: 1.2;
  white-space: nowrap; overflow: hidden; text-overflow: ellipsis;
}
.number .detail { font-size: 0.8rem; color: var(--muted); min-height: 1.1em; overflow-wrap: anywhere; }

.charts { display: grid; grid-template-columns: repeat(auto-fill, minmax(min(100%, 26rem), 1fr)); gap: 0.75rem; }
.chart {
  margin: 0; min-width: 0; padding: 0.7rem 0.9rem 0.4rem;
  background: var(--panel); border: 1px solid var(--line); border-radius: 10px;
}
.chart figcaption { font-weight: 600; font-size: 0.9rem; margin-bottom: 0.25rem; }
.plot { width: 100%; min-width: 0; overflow: hidden; }
.plot .u-legend { font-size: 0.8rem; }

.admin { display: grid; gap: 1rem; padding: 1rem; background: var(--panel); border: 1px solid var(--line); border-radius: 10px; min-width: 0; }
.admin-head { display: flex; flex-wrap: wrap; align-items: baseline; gap: 0.25rem 1rem; }
.admin-head p { margin: 0; color: var(--muted); }
.token-form { display: flex; flex-wrap: wrap; align-items: center; gap: 0.5rem; }
.token-form input { flex: 1 1 12rem; min-width: 0; max-width: 24rem; }
#admin-controls { display: grid; gap: 1rem; min-width: 0; }
.toolbar { display: flex; flex-wrap: wrap; align-items: center; gap: 0.5rem 1rem; }
.toolbar p { margin: 0; color: var(--muted); }
.toolbar p.failed { color: var(--bad); }
button {
  padding: 0.35rem 0.9rem; border-radius: 6px; border: 1px solid var(--accent);
  background: var(--accent); color: #fff; cursor: pointer;
}
button:disabled { opacity: 0.6; cursor: progress; }
button.danger { background: var(--bad); border-color: var(--bad); }
#forget-token { background: #fff; color: var(--accent); }
.config-form fieldset {
  display: flex; flex-wrap: wrap; align-items: flex-end; gap: 0.75rem 1rem;
  margin: 0; padding: 0.75rem; border: 1px solid var(--line); border-radius: 8px; min-width: 0;
}
.config-form legend { font-weight: 600; padding: 0 0.25rem; }
.config-form label { display: flex; flex-direction: column; gap: 0.2rem; font-size: 0.85rem; color: var(--muted); }
.config-form label.check { flex-direction: row; align-items: center; gap: 0.4rem; color: var(--ink); align-self: center; }
.config-form input[type="number"] { width: 11rem; max-width: 100%; }

.tables { display: grid; grid-template-columns: repeat(auto-fit, minmax(min(100%, 30rem), 1fr)); gap: 1rem; }
.entries { min-width: 0; }
.table-wrap { overflow-x: auto; border: 1px solid var(--line); border-radius: 8px; }
table { width: 100%; border-collapse: collapse; font-size: 0.85rem; }
th, td { padding: 0.35rem 0.6rem; text-align: left; border-bottom: 1px solid var(--line); white-space: nowrap; }
th { background: var(--ground); font-weight: 600; }
tbody tr:last-child td { border-bottom: 0; }
td.numeric, .entries th:nth-child(4), .entries th:nth-child(5) { text-align: right; font-variant-numeric: tabular-nums; }
td.key, .events .key { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
td.prompt { max-width: 16rem; overflow: hidden; text-overflow: ellipsis; }
td.empty, p.empty { color: var(--muted); }

.events ol { list-style: none; margin: 0; padding: 0; max-height: 22rem; overflow-y: auto; border: 1px solid var(--line); border-radius: 8px; }
.events ol:empty { display: none; }
.events li {
  display: flex; flex-wrap: wrap; gap: 0.2rem 0.75rem; align-items: baseline;
  padding: 0.35rem 0.6rem; border-bottom: 1px solid var(--line); font-size: 0.85rem; min-width: 0;
}
.events li:last-child { border-bottom: 0; }
.events time { color: var(--muted); font-variant-numeric: tabular-nums; }
.events .type { font-weight: 650; font-size: 0.75rem; padding: 0.05rem 0.4rem; border-radius: 4px; background: var(--ground); }
.events li[data-type="SET"] .type { background: #e3f2e5; color: var(--good); }
.events li[data-type="EVICT"] .type, .events li[data-type="EXPIRE"] .type { background: #fff0e0; color: #a04a00; }
.events li[data-type="DELETE"] .type, .events li[data-type="CLEAR"] .type { background: #fde7e7; color: var(--bad); }
.events li[data-type="CONFIG"] .type { background: #e6eefa; color: var(--accent); }
.events .detail { overflow-wrap: anywhere; min-width: 0; }
.events .instance { color: var(--muted); margin-left: auto; font-size: 0.8rem; }
.events p.empty { margin: 0; }

@media (max-width: 40rem) {
  :root { font-size: 14px; }
  .bar-tools { width: 100%; justify-content: space-between; }
  .config-form input[type="number"] { width: 100%; }
  .config-form label { flex: 1 1 100%; }
}
`;
