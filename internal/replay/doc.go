// Package replay records what an episode needs to be played again exactly
// and plays it again: every policy reply, every executor call's request
// digest and reply, and digests of every observation and node result. A
// replay re-runs the canvas with the recorded replies (a Backend that
// answers by request digest: no model, no network) and reports the first
// turn whose observation, node output or reward differs, or that the
// episode is identical.
//
// Data path: engine (executor calls) -> Recorder -> trainer -> runstore
// (episode_replays) -> Export -> Bundle (JSON file) -> Replay -> Result.
//
// What a replay holds fixed is what the recording captured: the task (gold
// included), the episode and reward configuration, the policy's replies
// and the executor's replies. The sandbox really runs the generated code
// again, so a replay also checks that code execution and scoring are
// reproducible. Accounting that depends on the process rather than the
// episode (durations, cache hits, call and token counters) is left out of
// the digests.
package replay
