// Package workflow holds the agentic workflow graph that a FlowSteer policy
// builds one edit per turn: the ordered list of top-level stages (single
// operators, parallel blocks, conditionals and loops), its canonical text form
// (the DSL), the parser and printer for that form, its statistics and the
// edit operations the canvas applies.
//
// Data path: the policy writes one action per turn; the canvas resolves it
// into one edit of a Graph (Insert, Delete, SetOperator, SetPrompt); the graph
// is then shown back to the policy as DSL with its Stats, and handed to the
// executor, which runs its stages in order. Runs store the DSL, and Parse
// reads it back into the same graph (String and Parse round-trip).
//
// Every edit either applies whole or leaves the graph untouched, and its
// error is a typed *EditError whose message is written for the policy
// ("node_9 does not exist; existing nodes: ..."), because a bad action must
// cost a turn and produce feedback, never corrupt an episode. Callers branch
// on the sentinels ErrNotFound, ErrInvalid and ErrUnknownOperator.
//
// The package knows nothing about the operators themselves: a Catalog
// supplies which names exist and which play the checker or combiner role.
// A nil Catalog accepts any identifier and enforces no role rules, which is
// what tools that only read stored DSL need.
package workflow
