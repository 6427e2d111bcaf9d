// Package runstore keeps everything a training run produces: the run's
// identity and status, the metrics of every step, every episode with its
// turn log, checkpoints and evaluation reports.
//
// The store is a seam (Kinds, factory.go): a kind is a factory with a
// typed config, and a run directory records the kind it was made with
// (SpecFile), so every reader reopens it the same way. The default and
// only built-in kind, sqlite, keeps one SQLite file per run directory
// (dir/run.db); what follows describes it.
//
// Data path: the trainer writes here as it goes (trainer -> runstore), and
// everything downstream reads from here rather than from the live process:
// resuming after a crash, WatchRun's replay, and the HTML report
// (runstore -> report). That is why the store, not the trainer's memory, is
// the source of truth.
//
// Durability: the database runs in WAL mode with synchronous=FULL, and every
// write method is one transaction, so a process killed with SIGKILL at any
// moment leaves a consistent database holding whole steps, whole episode
// batches and whole reports, never halves. On resume the trainer calls
// Truncate with its last checkpoint's step to drop what the dead process
// wrote after it, so the stored history matches the restored policy.
//
// Proto messages (StepMetrics, EvalReport, RewardBreakdown) are stored as
// protojson text with proto field names, so the file stays readable with the
// sqlite3 shell and json_extract, and unknown fields are discarded on read so
// that an older binary can still report on a run written by a newer one.
//
// A Store is safe for concurrent use; writes are serialised by the store so
// goroutines never race each other into SQLITE_BUSY.
package runstore
