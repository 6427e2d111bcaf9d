#!/usr/bin/env bash
# Canvas turn, before and after, side by side in one run (issue #24).
#
#   scripts/bench_canvas_turn.sh [BASE] [ROUNDS] [TURNS]
#
# Builds internal/bench's test binary from a git worktree of BASE (default
# 05ebaf7, the canvas before the allocation work) and from this checkout,
# with the same benchmark file (turn_latency_bench_test.go, copied into the
# old tree), then runs the two alternately ROUNDS times, TURNS turns each,
# so a noisy neighbour slows both alike. Prints the raw lines and a table of
# medians over the rounds with the ratio old / new.
set -euo pipefail
base=${1:-05ebaf7}
rounds=${2:-5}
turns=${3:-20000}
root=$(git rev-parse --show-toplevel)
tmp=$(mktemp -d)
trap 'git -C "$root" worktree remove --force "$tmp/old" >/dev/null 2>&1 || true; rm -rf "$tmp"' EXIT
git -C "$root" worktree add --detach "$tmp/old" "$base" >/dev/null 2>&1
cp "$root/internal/bench/turn_latency_bench_test.go" "$root/internal/bench/cputime_linux.go" "$root/internal/bench/cputime_other.go" "$tmp/old/internal/bench/"
(cd "$tmp/old" && go test -c -o "$tmp/old.test" ./internal/bench)
(cd "$root" && go test -c -o "$tmp/new.test" ./internal/bench)
bench='^BenchmarkCanvasTurnLatency$'
for i in $(seq "$rounds"); do
	for side in old new; do
		(cd "$root/internal/bench" && "$tmp/$side.test" -test.run '^$' -test.bench "$bench" -test.benchmem -test.benchtime "${turns}x") |
			grep '^Benchmark' | sed "s/^/$side /"
	done
done | tee "$tmp/raw"
echo
echo "medians over $rounds rounds of $turns turns per side ($(go env GOARCH), GOMAXPROCS $(nproc)), $base vs $(git -C "$root" rev-parse --short HEAD):"
awk '
	$2 ~ /^BenchmarkCanvasTurnLatency/ {
		for (i = 4; i < NF; i += 2) { v[$1, $(i+1)] = v[$1, $(i+1)] " " $i; last[$1, $(i+1)] = $i }
		# The two sides of one round ran back to back: their ratio is the
		# least disturbed by neighbours that come and go.
		if ($1 == "new") for (i = 4; i < NF; i += 2) if ($i > 0) r[$(i+1)] = r[$(i+1)] " " last["old", $(i+1)] / $i
	}
	function median(s,   a, n, i, j, t) {
		n = split(s, a, " ")
		for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t }
		return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
	}
	END {
		split("allocs/op B/op mean-ns p50-ns p99-ns cpu-mean-ns cpu-p99-ns ns/op", m, " ")
		printf "| per turn | old | new | old / new (of the medians) | old / new (median of the rounds) |\n| --- | ---: | ---: | ---: | ---: |\n"
		for (k = 1; k <= 8; k++) {
			o = median(v["old", m[k]]); n = median(v["new", m[k]])
			printf "| %s | %.0f | %.0f | %.2fx | %.2fx |\n", m[k], o, n, (n > 0 ? o / n : 0), median(r[m[k]])
		}
	}' "$tmp/raw"
