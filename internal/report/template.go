package report

// pageTemplate is the whole page. Styles are inline because the file must
// open with no network and no neighbouring files; SVG classes are styled
// here rather than per element to keep long runs' charts small.
const pageTemplate = `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="flowsteer report">
<title>{{.Title}}</title>
<style>
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1d2430;margin:0 auto;max-width:1500px;padding:0 24px 48px}
h1{font-size:22px;margin:20px 0 6px}
h2{font-size:18px;margin:30px 0 8px;border-bottom:1px solid #d9dee7;padding-bottom:4px}
h3{font-size:15px;margin:18px 0 6px}
code,pre{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:12.5px}
pre{background:#f5f7fa;border:1px solid #e1e5ec;padding:8px;overflow:auto;max-height:420px}
.banner{background:#fff3cd;border:2px solid #d39e00;color:#5c4400;font-weight:700;font-size:16px;padding:12px 16px;margin:16px 0;border-radius:6px}
.error{background:#fdecea;border:1px solid #d93025;padding:8px 12px;border-radius:4px}
.meta{display:grid;grid-template-columns:max-content 1fr;gap:2px 16px;margin:8px 0}
.meta dt{color:#5b6472}
.meta dd{margin:0}
.note{color:#5b6472;font-size:12.5px}
.charts{display:flex;flex-wrap:wrap;gap:12px}
.charts svg,.wfbox svg{background:#fff;border:1px solid #e1e5ec;border-radius:4px}
table{border-collapse:collapse;margin:6px 0 12px;font-size:13px}
th,td{border:1px solid #d9dee7;padding:4px 8px;text-align:right;white-space:nowrap}
th{background:#f0f3f7}
td:first-child,th:first-child{text-align:left}
.h1{background:#e6f0f8}.h2{background:#cfe2f1}.h3{background:#b3d1ea}.h4{background:#92bde0}.h5{background:#6fa8d6}
.wfbox{overflow-x:auto;margin:6px 0 18px}
.wfhead{margin:14px 0 4px}
details{margin:8px 0}
summary{cursor:pointer;color:#2b5b9c}
.ct{font-size:13px;font-weight:600;fill:#1d2430}
.tick{font-size:10px;fill:#5b6472}
.lg{font-size:11px;fill:#1d2430}
.nodata{font-size:13px;fill:#8a93a2}
.grid{stroke:#eceff4;stroke-width:1}
.axis{stroke:#8a93a2;stroke-width:1}
.frame{fill:none;stroke:#b5bcc8;stroke-width:1}
.op{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:12px;fill:#1d2430}
.node{fill:#eaf1fb;stroke:#4a6fa5;stroke-width:1.2}
.checker{fill:#fff4e0;stroke:#c77c02}
.edge{fill:none;stroke:#58606e;stroke-width:1.3}
.repair{stroke:#c0392b}
.pass{stroke:#2e7d32}
.back{stroke:#7a5cc2;stroke-dasharray:4 3}
.head{fill:#58606e;stroke:none;stroke-dasharray:none}
.repair.head{fill:#c0392b}.pass.head{fill:#2e7d32}.back.head{fill:#7a5cc2}
.elabel{font-size:10.5px}
.gnote{font-size:10.5px;fill:#5b6472}
.elabel.repair{fill:#c0392b;stroke:none}.elabel.pass{fill:#2e7d32;stroke:none}
.dot{fill:#58606e}
.loop{fill:#f6f2fd;stroke:#7a5cc2;stroke-dasharray:5 3}
.count{font-size:12px;font-weight:700;fill:#7a5cc2}
.term{fill:#58606e}.term.end{fill:#fff;stroke:#58606e;stroke-width:1.5}.term-in{fill:#58606e}
@media print{.charts svg{break-inside:avoid}}
</style>
</head>
<body>
{{if .Banner}}<div class="banner" role="alert">{{.Banner}}</div>
{{end -}}
<h1>{{.Title}}</h1>
<dl class="meta">
<dt>Run</dt><dd>{{.Name}}{{if and .Run.Name .Run.ID}} <span class="note">({{.Run.ID}})</span>{{end}}</dd>
<dt>Status</dt><dd>{{if .Run.Status}}{{.Run.Status}}{{else}}unknown{{end}}</dd>
<dt>Steps</dt><dd>{{.Progress}} <span class="note">({{.Recorded}} recorded)</span></dd>
<dt>Models</dt><dd>{{if .Models}}{{.Models}}{{else}}–{{end}}</dd>
<dt>Hardware</dt><dd>{{if .Hardware}}{{.Hardware}}{{else}}–{{end}}</dd>
{{- if .Run.Backend}}
<dt>Executor backend</dt><dd>{{.Run.Backend}}</dd>{{end}}
{{- if .Run.Policy}}
<dt>Policy</dt><dd>{{.Run.Policy}}</dd>{{end}}
<dt>Config hash</dt><dd><code>{{if .Run.ConfigHash}}{{.Run.ConfigHash}}{{else}}–{{end}}</code></dd>
{{- if .Created}}
<dt>Created</dt><dd>{{.Created}}</dd>{{end}}
{{- if .Updated}}
<dt>Updated</dt><dd>{{.Updated}}</dd>{{end}}
</dl>
{{if .Run.Error}}<div class="error"><strong>Error:</strong> {{.Run.Error}}</div>{{end}}
{{if .Notes}}<h3>Notes</h3>
<ul>{{range .Notes}}<li>{{.}}</li>{{end}}</ul>{{end}}
{{if .Run.ConfigYAML}}<details><summary>Configuration</summary><pre>{{.Run.ConfigYAML}}</pre></details>{{end}}

{{if .Latest}}<h2>Latest step ({{.LatestStep}})</h2>
<table><tbody>{{range .Latest}}<tr><th>{{.Key}}</th><td>{{.Value}}</td></tr>{{end}}</tbody></table>
{{else}}<p class="note">No training steps recorded yet.</p>
{{end}}
{{range .Groups}}<h2>{{.Heading}}</h2>
{{if .Note}}<p class="note">{{.Note}}</p>{{end}}
<div class="charts">
{{range .Charts}}{{.}}
{{end}}</div>
{{end}}
<h2>Operator usage over training</h2>
<p class="note">Share of operator occurrences in the final workflows of each group of steps.</p>
<div class="charts">{{.Usage.SVG}}</div>
{{if .Usage.Rows}}<table>
<thead><tr><th>Operator</th>{{range .Usage.Buckets}}<th>{{.}}</th>{{end}}<th>Total</th></tr></thead>
<tbody>{{range .Usage.Rows}}<tr><td>{{.Operator}}</td>{{range .Cells}}<td class="h{{.Level}}">{{.Text}}</td>{{end}}<td>{{.Total}}</td></tr>
{{end}}</tbody></table>{{end}}

<h2>Most frequent final workflows</h2>
{{if .Workflows}}<p class="note">Conditionals: the repair branch runs when the checker judges the solution wrong; the other branch runs when it passes.</p>
{{range .Workflows}}<div class="wfhead"><strong>#{{.Rank}}</strong> · {{.Count}} episode{{if ne .Count 1}}s{{end}} · mean reward {{.MeanReward}}{{if .Structures}} · <span class="note">{{.Structures}}</span>{{end}}<br><code>{{.DSL}}</code></div>
{{if .Err}}<p class="error">Cannot draw this workflow: {{.Err}}</p>{{else}}<div class="wfbox">{{.SVG}}</div>{{end}}
{{end}}{{else}}<p class="note">No episodes with a final workflow yet.</p>
{{end}}
{{.Cost}}
<h2>Evaluation</h2>
{{with .LatestEval}}{{template "evaltable" .}}{{else}}<p class="note">No evaluation recorded yet.</p>{{end}}
{{with .History}}<h3>Mean reward across evaluations</h3>
<table>
<thead><tr><th>Policy</th>{{range .Cols}}<th>{{.}}</th>{{end}}</tr></thead>
<tbody>{{range .Rows}}<tr><td>{{.Policy}}</td>{{range .Cells}}<td>{{.}}</td>{{end}}</tr>
{{end}}</tbody></table>{{end}}
{{range .EarlierEval}}<details><summary>Evaluation at {{.Label}}</summary>{{template "evaltable" .}}</details>
{{end}}
<p class="note">Intervals are 95% confidence intervals.</p>
{{range .Sections}}<section id="section-{{.Key}}"><h2>{{.Title}}</h2>
{{if .Facts}}<ul>{{range .Facts}}<li>{{.}}</li>{{end}}</ul>{{end}}
{{with .Table}}<table>
<thead><tr>{{range .Header}}<th>{{.}}</th>{{end}}</tr></thead>
<tbody>{{range .Rows}}<tr>{{range .}}<td>{{.}}</td>{{end}}</tr>
{{end}}</tbody></table>{{end}}</section>
{{end}}</body>
</html>
{{define "evaltable"}}{{if .Label}}<h3>Evaluation at {{.Label}}{{if .Simulated}} <span class="note">(simulated executor)</span>{{end}}</h3>{{end}}
<table>
<thead><tr><th>Policy</th><th>Episodes</th><th>Mean reward [95% CI]</th>{{range .FamilyCols}}<th>{{.}}</th>{{end}}<th>Release rate</th><th>Finished rate</th><th>Invalid-action rate</th><th>Mean turns</th></tr></thead>
<tbody>{{range .Rows}}<tr><td>{{.Policy}}</td><td>{{.Episodes}}</td><td>{{.Reward}}</td>{{range .Families}}<td>{{.}}</td>{{end}}<td>{{.Release}}</td><td>{{.Finished}}</td><td>{{.Invalid}}</td><td>{{.Turn}}</td></tr>
{{end}}</tbody></table>{{end}}`
