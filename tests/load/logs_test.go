package load

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"

	"google.golang.org/protobuf/proto"
)

func protoMarshal(m proto.Message) ([]byte, error) { return proto.Marshal(m) }

// logCapture is the server's slog handler: it counts recovered panics and
// calls logged as ending Internal or Unknown, and keeps the first few such
// records. Info records (one per finished call) are dropped unread.
type logCapture struct {
	panics, internal atomic.Int64
	mu               sync.Mutex
	first            []string
}

func (l *logCapture) logger() *slog.Logger { return slog.New(l) }

func (l *logCapture) Enabled(_ context.Context, lvl slog.Level) bool { return lvl >= slog.LevelWarn }

func (l *logCapture) Handle(_ context.Context, r slog.Record) error {
	var attrs []string
	code := ""
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "grpc.code" {
			code = a.Value.String()
		}
		if a.Key != "stack" {
			attrs = append(attrs, a.Key+"="+a.Value.String())
		}
		return true
	})
	isPanic := strings.Contains(r.Message, "panic")
	isInternal := code == "Internal" || code == "Unknown"
	if isPanic {
		l.panics.Add(1)
	}
	if isInternal {
		l.internal.Add(1)
	}
	if isPanic || isInternal {
		l.mu.Lock()
		if len(l.first) < 5 {
			l.first = append(l.first, fmt.Sprintf("%s %q %s", r.Level, r.Message, strings.Join(attrs, " ")))
		}
		l.mu.Unlock()
	}
	return nil
}

func (l *logCapture) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *logCapture) WithGroup(string) slog.Handler      { return l }

func (l *logCapture) firstErrors() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.first, "\n")
}
