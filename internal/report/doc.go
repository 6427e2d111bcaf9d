// Package report renders a training run as one self-contained HTML file:
// header and provenance, inline SVG charts of the step metrics, operator
// usage over training, the most frequent final workflows drawn as graphs,
// and the trained policy against its baselines on the eval set.
//
// Data path: trainer -> runstore -> report. The trainer writes steps,
// episodes and evals into the run's store as it goes; the report reads them
// back (Steps, Evals, TopWorkflows) into a Data and renders it, so a report
// can be made at any time, from a live, finished or crashed run, without
// the trainer.
//
// The file carries no scripts and no external assets, so it opens offline,
// archives as one file and can be attached to a review. When the executor
// was simulated the report says so in a banner above everything else: the
// curves then describe the offline simulation, and a reader must not take
// them for results on real language models.
package report
