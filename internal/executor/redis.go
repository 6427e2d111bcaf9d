package executor

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisConfig configures RedisTier: a Redis or Valkey server that the
// canvas replicas of one deployment share as their second cache tier.
type RedisConfig struct {
	Addr     string        `yaml:"addr"`     // host:port; empty = no shared tier
	Username string        `yaml:"username"` // ACL user, if any
	Password string        `yaml:"password"` // from a secret, never a flag default
	DB       int           `yaml:"db"`
	TTL      time.Duration `yaml:"ttl"` // entry expiry, default 24h
	// PoolSize bounds the connections per replica (default 16).
	PoolSize int `yaml:"pool_size"`
}

// Validate names the bad key.
func (c RedisConfig) Validate() error {
	switch {
	case c.Addr == "":
		return errors.New("cache redis addr: empty")
	case c.TTL < 0:
		return fmt.Errorf("cache redis ttl: must not be negative, got %s", c.TTL)
	case c.DB < 0:
		return fmt.Errorf("cache redis db: must not be negative, got %d", c.DB)
	case c.PoolSize < 0:
		return fmt.Errorf("cache redis pool_size: must not be negative, got %d", c.PoolSize)
	}
	return nil
}

// RedisTier is a SharedTier on Redis or Valkey through go-redis, a
// maintained client of an existing engine (rather than a cache of our own).
// Entries expire after TTL; the server's own maxmemory policy bounds its
// size (the Kubernetes overlay sets allkeys-lru).
type RedisTier struct {
	c   *redis.Client
	ttl time.Duration
}

// NewRedisTier connects lazily: a server that is not up yet makes the
// first calls miss, not fail.
func NewRedisTier(cfg RedisConfig) (*RedisTier, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.TTL == 0 {
		cfg.TTL = 24 * time.Hour
	}
	if cfg.PoolSize == 0 {
		cfg.PoolSize = 16
	}
	c := redis.NewClient(&redis.Options{
		Addr: cfg.Addr, Username: cfg.Username, Password: cfg.Password, DB: cfg.DB,
		PoolSize: cfg.PoolSize,
		// The Cache bounds each call and backs off on errors; retries
		// here would only hold a call longer when the server is gone.
		MaxRetries:   -1,
		DialTimeout:  time.Second,
		ReadTimeout:  time.Second,
		WriteTimeout: time.Second,
	})
	return &RedisTier{c: c, ttl: cfg.TTL}, nil
}

// Name implements SharedTier.
func (r *RedisTier) Name() string { return "redis " + r.c.Options().Addr }

// Get implements SharedTier.
func (r *RedisTier) Get(ctx context.Context, key string) ([]byte, bool, error) {
	b, err := r.c.Get(ctx, key).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	return b, true, nil
}

// Set implements SharedTier.
func (r *RedisTier) Set(ctx context.Context, key string, val []byte) error {
	return r.c.Set(ctx, key, val, r.ttl).Err()
}

// Close closes the connections.
func (r *RedisTier) Close() error { return r.c.Close() }
