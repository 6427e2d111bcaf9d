package engine

import (
	"container/list"
	"context"
	"crypto/sha256"
	"fmt"
	"sync"

	"github.com/flowsteer/flowsteer/internal/sandbox"
)

// runCache memoises sandbox runs by (code, stdin, files, args): generated
// programs are deterministic in practice, and training re-runs the same
// prefix of a workflow after every edit. Runs that timed out or were
// killed are not kept, since they depend on the machine's load.
type runCache struct {
	max int
	mu  sync.Mutex
	m   map[[32]byte]*list.Element
	lru *list.List
}

type runEntry struct {
	key [32]byte
	res sandbox.Result
}

func newRunCache(n int) *runCache {
	return &runCache{max: n, m: map[[32]byte]*list.Element{}, lru: list.New()}
}

func runKey(s sandbox.Spec) [32]byte {
	h := sha256.New()
	fmt.Fprintf(h, "%d\x00%s\x00%d\x00%s\x00%d\x00%q", len(s.Code), s.Code, len(s.Stdin), s.Stdin, s.Timeout, s.Args)
	for k, v := range s.Files {
		fmt.Fprintf(h, "\x00%s\x00%s", k, v)
	}
	var k [32]byte
	copy(k[:], h.Sum(nil))
	return k
}

func (c *runCache) do(ctx context.Context, s sandbox.Spec, sb Sandbox) (sandbox.Result, error) {
	if c.max == 0 || len(s.Files) > 0 {
		return sb.Run(ctx, s)
	}
	k := runKey(s)
	c.mu.Lock()
	if el, ok := c.m[k]; ok {
		c.lru.MoveToFront(el)
		res := el.Value.(*runEntry).res
		c.mu.Unlock()
		return res, nil
	}
	c.mu.Unlock()
	res, err := sb.Run(ctx, s)
	if err != nil || res.TimedOut || res.Killed != "" {
		return res, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.m[k]; !ok {
		c.m[k] = c.lru.PushFront(&runEntry{key: k, res: res})
		for c.lru.Len() > c.max {
			old := c.lru.Back()
			c.lru.Remove(old)
			delete(c.m, old.Value.(*runEntry).key)
		}
	}
	return res, nil
}
