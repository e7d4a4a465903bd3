package approval

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"time"

	"github.com/stasima/stasima/pkg/fault"
	"github.com/stasima/stasima/pkg/refs"
)

// Purpose is what a code is consumed for.
type Purpose string

// Purposes of consume; the OAuth door's "oauth" verification is VerifyDoor.
const (
	PurposeStage Purpose = "stage"
	PurposeLand  Purpose = "land"
)

// Log attribute keys of this package (values only: never a code).
const (
	keyProposal = "proposal"
	keyWindow   = "window"
	keyPurpose  = "purpose"
	keyReason   = "reason"
	keyOID      = "oid"
	keyClient   = "client_id"
)

// Config holds the airlock parameters of airlock.md §9.
type Config struct {
	// Floor is airlock_floor_s, the minimum review time. The deployment config
	// requires 0 < floor (O-config-15); the state machine also accepts 0 so that the window
	// ordering of A-8 can be exercised on its own.
	Floor time.Duration
	// Ceiling is airlock_ceiling_s, the staged lifetime.
	Ceiling time.Duration
	// Approvers is the configured approver list; a land is approved by the first in sorted
	// order.
	Approvers []string
	// CanonRef is canon_ref, the ref a staged candidate lands into.
	CanonRef string
	// FailureBudget wrong codes within FailurePeriod, counted across the deployment (stage,
	// land and the OAuth door together), lock every code check for LockFor; a zero field takes
	// its default (20, one hour, 15 minutes). The console land never asks the airlock.
	FailureBudget int
	FailurePeriod time.Duration
	LockFor       time.Duration
}

// Defaults of the failure budget.
const (
	DefaultFailureBudget = 20
	DefaultFailurePeriod = time.Hour
	DefaultLockFor       = 15 * time.Minute
)

// DefaultConfig returns the defaults of operations.md §8.2.
func DefaultConfig() Config {
	return Config{
		Floor:     120 * time.Second,
		Ceiling:   7200 * time.Second,
		Approvers: []string{"practitioner"},
		CanonRef:  refs.DefaultCanon,
	}
}

// Validate checks 0 ≤ floor < ceiling, at least one approver and a canon ref.
func (c Config) Validate() error {
	const op = "airlock.config"
	switch {
	case c.Floor < 0 || c.Ceiling <= c.Floor:
		return fault.E(op, fault.ArgumentError, "airlock_floor_s (%s) must be at least 0 and below airlock_ceiling_s (%s)",
			seconds(c.Floor), seconds(c.Ceiling))
	case len(c.Approvers) == 0:
		return fault.E(op, fault.ArgumentError, "at least one approver is required")
	case c.CanonRef == "":
		return fault.E(op, fault.ArgumentError, "canon_ref is required")
	case c.FailureBudget < 0 || c.FailurePeriod < 0 || c.LockFor < 0:
		return fault.E(op, fault.ArgumentError,
			"airlock failure budget %d per %s with a lock of %s must not be negative (0 takes the default)",
			c.FailureBudget, c.FailurePeriod, c.LockFor)
	}
	return nil
}

// Params are the dependencies of a Service.
type Params struct {
	Config Config
	// Secret is the TOTP secret (airlock_secret_path), read at every verification.
	Secret SecretSource
	// LandSecret, when non-nil, verifies land codes instead of Secret (airlock_land_secret,
	// an independent second factor). Stage codes and the OAuth door always use Secret.
	LandSecret SecretSource
	Ledger     Ledger
	Audit      Audit
	Candidates Candidates
	// Logger receives state changes and refusals (never codes); nil discards.
	Logger *slog.Logger
	// Now is the clock of every time gate (INV-17); nil is time.Now.
	Now func() time.Time
}

// Service is the airlock state machine. Its methods are safe for concurrent use and run one at
// a time.
type Service struct {
	cfg        Config
	approver   string
	secret     SecretSource
	landSecret SecretSource
	ledger     Ledger
	audit      Audit
	cands      Candidates
	log        *slog.Logger
	now        func() time.Time

	// sem is the airlock mutex of A-70, a channel so that waiting respects ctx.
	sem chan struct{}

	// budget is the deployment-wide failure budget, read and written under sem.
	budget budget
}

// New validates p and assembles a Service. It does no I/O.
func New(p Params) (*Service, error) {
	if err := p.Config.Validate(); err != nil {
		return nil, err
	}
	switch {
	case p.Secret == nil:
		return nil, errors.New("approval: nil Secret")
	case p.Ledger == nil:
		return nil, errors.New("approval: nil Ledger")
	case p.Audit == nil:
		return nil, errors.New("approval: nil Audit")
	case p.Candidates == nil:
		return nil, errors.New("approval: nil Candidates")
	}
	approvers := slices.Clone(p.Config.Approvers)
	slices.Sort(approvers) // CONV-9: byte order
	s := &Service{
		cfg:        p.Config,
		approver:   approvers[0],
		secret:     p.Secret,
		landSecret: p.LandSecret,
		ledger:     p.Ledger,
		audit:      p.Audit,
		cands:      p.Candidates,
		log:        p.Logger,
		now:        p.Now,
		sem:        make(chan struct{}, 1),
	}
	s.cfg.Approvers = approvers
	if s.cfg.FailureBudget == 0 {
		s.cfg.FailureBudget = DefaultFailureBudget
	}
	if s.cfg.FailurePeriod == 0 {
		s.cfg.FailurePeriod = DefaultFailurePeriod
	}
	if s.cfg.LockFor == 0 {
		s.cfg.LockFor = DefaultLockFor
	}
	if s.landSecret == nil {
		s.landSecret = s.secret
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	return s, nil
}

// Approver returns the approver the airlock lands as: the first configured one in sorted order.
func (s *Service) Approver() string { return s.approver }

// lock takes the airlock mutex or gives up when ctx ends.
func (s *Service) lock(ctx context.Context) (unlock func(), err error) {
	if ctx.Err() != nil { // select would pick a free mutex at random over a done context
		return nil, fmt.Errorf("airlock: %w", context.Cause(ctx))
	}
	select {
	case s.sem <- struct{}{}:
		return func() { <-s.sem }, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("airlock busy: %w", context.Cause(ctx))
	}
}

// nowSeconds reads the clock as float seconds (CONV-6).
func (s *Service) nowSeconds() float64 { return float64(SecondsOf(s.now())) }

// record appends one row and waits for it.
func (s *Service) record(ctx context.Context, r Record) error {
	if _, err := s.audit.Append(ctx, r); err != nil {
		return fmt.Errorf("append %s row: %w", r.Op, err)
	}
	return nil
}

// seconds formats a duration as whole or fractional seconds: "120".
func seconds(d time.Duration) string {
	return strconv.FormatFloat(d.Seconds(), 'f', -1, 64)
}
