package protoconv

// invert returns the reverse of a one-to-one enum map, so each enum pair
// is spelled once and both directions are lookups.
func invert[K, V comparable](m map[K]V) map[V]K {
	out := make(map[V]K, len(m))
	for k, v := range m {
		out[v] = k
	}
	return out
}
