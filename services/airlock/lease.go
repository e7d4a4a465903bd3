package airlock

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/stasima/stasima/pkg/logkey"
)

// DefaultLeaseTTL is how long the airlock's lease outlives its holder's last renewal.
const DefaultLeaseTTL = 15 * time.Second

// leaseKey is the lease's key in the deployment's lease bucket.
const leaseKey = "holder"

// defaultHolder names this process as a lease holder: host and process id.
func defaultHolder() string {
	host, _ := os.Hostname()
	return fmt.Sprintf("%s/%d", host, os.Getpid())
}

// lease is the airlock's single-instance lease: one key in a JetStream key-value bucket
// per deployment prefix, created by the airlock that holds it, renewed every ttl/3 by a
// compare-and-set on its revision, deleted on stop, and lapsing ttl after a crashed holder's
// last renewal (the bucket's max age). An airlock consumes commands and serves queries only
// while it holds the lease; any other waits as a standby holding no consumer.
type lease struct {
	kv     jetstream.KeyValue
	holder string
	ttl    time.Duration
	rev    uint64 // the revision this holder last wrote; 0 when not held
}

// openLease ensures the bucket.
func openLease(ctx context.Context, js jetstream.JetStream, bucket, holder string, ttl time.Duration) (*lease, error) {
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket: bucket, Description: "the airlock's single-instance lease (A-70)",
		History: 1, TTL: ttl, Storage: jetstream.FileStorage,
	})
	if err != nil {
		return nil, fmt.Errorf("airlock: lease bucket %s: %w", bucket, err)
	}
	return &lease{kv: kv, holder: holder, ttl: ttl}, nil
}

// acquire takes the lease when nobody holds it (or this holder already does, as after a
// restart of the same process); false with the current holder when another airlock holds it.
func (l *lease) acquire(ctx context.Context) (bool, string, error) {
	rev, err := l.kv.Create(ctx, leaseKey, []byte(l.holder))
	if err == nil {
		l.rev = rev
		return true, l.holder, nil
	}
	if !errors.Is(err, jetstream.ErrKeyExists) {
		return false, "", err
	}
	e, err := l.kv.Get(ctx, leaseKey)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return false, "", nil // lapsed between the two calls: the next try takes it
	}
	if err != nil {
		return false, "", err
	}
	if string(e.Value()) != l.holder {
		return false, string(e.Value()), nil
	}
	if l.rev, err = l.kv.Update(ctx, leaseKey, []byte(l.holder), e.Revision()); err != nil {
		return false, "", err
	}
	return true, l.holder, nil
}

// renew extends the lease; an error means it is lost (lapsed and taken, or unreachable).
func (l *lease) renew(ctx context.Context) error {
	rev, err := l.kv.Update(ctx, leaseKey, []byte(l.holder), l.rev)
	if err != nil {
		return err
	}
	l.rev = rev
	return nil
}

// release deletes the lease if this holder still holds it, so a standby takes over at once.
func (l *lease) release(ctx context.Context) error {
	if l.rev == 0 {
		return nil
	}
	err := l.kv.Delete(ctx, leaseKey, jetstream.LastRevision(l.rev))
	l.rev = 0
	return err
}

// runLease is the lease's goroutine: it waits as a standby until the lease is free, serves
// while holding it, and stands by again if it is ever lost, until stop.
func (s *Service) runLease(held bool) {
	defer close(s.leaseDone)
	tick := time.NewTicker(s.lease.ttl / 3)
	defer tick.Stop()
	for {
		select {
		case <-s.leaseStop:
			return
		case <-tick.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), s.lease.ttl/3)
		if held {
			if err := s.lease.renew(ctx); err != nil {
				s.log.Error("airlock lease lost; standing by", logkey.Err, err)
				s.deactivate(ctx)
				held = false
			}
		} else if ok, holder, err := s.lease.acquire(ctx); err != nil {
			s.log.Warn("airlock lease unavailable", logkey.Err, err)
		} else if ok {
			if err := s.activate(ctx); err != nil {
				s.log.Error("airlock activation failed; standing by", logkey.Err, err)
				s.deactivate(ctx)
				_ = s.lease.release(ctx)
			} else {
				held = true
				s.log.Info("airlock took over the lease", "holder", s.lease.holder)
			}
		} else {
			s.log.Debug("airlock standby", "holder", holder)
		}
		cancel()
	}
}
