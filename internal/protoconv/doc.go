// Package protoconv is the one place that turns flowsteer.v1 protobuf
// messages into domain values and back. Domain packages (internal/task,
// internal/canvas, internal/action, internal/workflow, internal/reward)
// never import gen/; the services, the trainer and the bench convert at
// their edge through this package, so a message field is mapped once.
//
// Conversions from the wire accept anything a decoder produced: unknown
// enum values map to the domain's zero value, or to a value the domain
// refuses as feedback (actions), or to an error naming the field
// (configuration). Checks that a request is well formed before it is
// converted (ValidateTask) live here too, because every service that
// accepts a task applies the same ones.
package protoconv
