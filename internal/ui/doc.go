// Package ui is flowsteer's read-only web viewer over run directories:
// every run, its live curves, each group of episodes, each episode turn by
// turn with its workflow graph, and each episode's trace from the spans
// flowsteer recorded itself. Pages are html/template (every value
// escaped), a little embedded JavaScript draws the curves and follows
// server-sent events; nothing needs a Node build. Every page has a stable
// URL and a JSON twin (?format=json).
//
// Data path: trainer -> runstore (run.db per run directory) -> ui. The
// viewer reads the stores (opening one brings its schema up to date, as
// any reader does) and never changes a run.
//
// Routes:
//
//	/                                     runs
//	/runs/{run}                           run: curves, evaluations, workflows, groups
//	/runs/{run}/events                    server-sent events: new steps and status
//	/runs/{run}/report                    the run's HTML report (report.html)
//	/runs/{run}/steps/{step}/groups/{group} a group's episodes by advantage
//	/runs/{run}/episodes/{episode}        an episode turn by turn
//	/runs/{run}/episodes/{episode}/trace  its span waterfall
//	/runs/{run}/episodes/{episode}/bundle its replay bundle (download)
//	/search?q=                            a run, episode id or trace id
package ui
