package door

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"
)

// race runs fn from n goroutines released together and returns how many reported a win.
func race(n int, fn func(i int) bool) int {
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		wins int
	)
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			if fn(i) {
				mu.Lock()
				wins++
				mu.Unlock()
			}
		}()
	}
	close(start)
	wg.Wait()
	return wins
}

const racers = 16

// TestStore_ConsumeOnce races every consuming update of the store on both backends: a code is
// redeemed once (I-67), a transaction approved once with one code stored (I-66), a refresh
// token rotated once (I-69), and at most BurnAt attempts are reserved on a transaction (I-65).
// Each consuming UPDATE or DELETE checks the rows it affected, so on Postgres, where the
// losers' statements wait on the winner's row lock and then match nothing, only one wins.
func TestStore_ConsumeOnce(t *testing.T) {
	ctx := context.Background()
	t0 := time.Unix(1_700_000_000, 0)
	for name, open := range stores {
		t.Run(name, func(t *testing.T) {
			s := open(t)
			t.Run("code redeemed once", func(t *testing.T) {
				for round := range 3 {
					code := fmt.Sprintf("K-%d", round)
					tx := Txn{ID: code, ClientID: "c1", Created: t0, Params: Params{Scopes: []string{}}}
					if err := s.PutTxn(ctx, tx, t0.Add(-TxnTTL)); err != nil {
						t.Fatal(err)
					}
					if _, _, err := s.Approve(ctx, code, "https://app.example/cb", code, Code{ClientID: "c1", Expires: t0.Add(CodeTTL)}); err != nil {
						t.Fatal(err)
					}
					wins := race(racers, func(int) bool {
						c, err := s.TakeCode(ctx, code)
						if err != nil {
							t.Error(err)
						}
						return c != nil
					})
					if wins != 1 {
						t.Fatalf("round %d: %d redeems of one code succeeded, want 1", round, wins)
					}
				}
			})
			t.Run("transaction approved once", func(t *testing.T) {
				for round := range 3 {
					id := fmt.Sprintf("T-%d", round)
					if err := s.PutTxn(ctx, Txn{ID: id, ClientID: "c1", Created: t0, Params: Params{Scopes: []string{}}}, t0.Add(-TxnTTL)); err != nil {
						t.Fatal(err)
					}
					var (
						mu        sync.Mutex
						redirects = map[string]bool{}
					)
					fresh := race(racers, func(i int) bool {
						code := fmt.Sprintf("%s-code-%d", id, i)
						out, fresh, err := s.Approve(ctx, id, "https://app.example/cb?code="+code, code, Code{ClientID: "c1", Expires: t0.Add(CodeTTL)})
						if err != nil {
							t.Error(err)
						}
						mu.Lock()
						redirects[out] = true
						mu.Unlock()
						return fresh
					})
					stored := 0
					for i := range racers {
						if c, err := s.TakeCode(ctx, fmt.Sprintf("%s-code-%d", id, i)); err == nil && c != nil {
							stored++
						}
					}
					if fresh != 1 || len(redirects) != 1 || stored != 1 {
						t.Fatalf("round %d: %d fresh approvals, %d distinct redirects, %d codes stored; want 1, 1, 1", round, fresh, len(redirects), stored)
					}
				}
			})
			t.Run("refresh token rotated once", func(t *testing.T) {
				for round := range 3 {
					old := fmt.Sprintf("R-%d", round)
					if err := s.PutPair(ctx, "A-"+old, Token{Kind: KindAccess, ClientID: "c1", Expires: t0.Add(time.Hour)},
						old, Token{Kind: KindRefresh, ClientID: "c1", Expires: t0.Add(time.Hour)}, t0, t0.Add(-TxnTTL)); err != nil {
						t.Fatal(err)
					}
					wins := race(racers, func(i int) bool {
						ok, err := s.Rotate(ctx, old, "c1", fmt.Sprintf("%s-a%d", old, i), Token{Kind: KindAccess, ClientID: "c1", Expires: t0.Add(time.Hour)},
							fmt.Sprintf("%s-r%d", old, i), Token{Kind: KindRefresh, ClientID: "c1", Expires: t0.Add(time.Hour)}, t0, t0.Add(-TxnTTL))
						if err != nil {
							t.Error(err)
						}
						return ok
					})
					if at, _ := s.Token(ctx, "A-"+old); wins != 1 || at != nil {
						t.Fatalf("round %d: %d rotations of one refresh token, old access token %v; want 1 and gone", round, wins, at)
					}
				}
			})
			t.Run("at most BurnAt attempts reserved", func(t *testing.T) {
				id := "T-attempts"
				if err := s.PutTxn(ctx, Txn{ID: id, ClientID: "c1", Created: t0, Params: Params{Scopes: []string{}}}, t0.Add(-TxnTTL)); err != nil {
					t.Fatal(err)
				}
				reserved := race(racers, func(int) bool {
					n, _, err := s.Attempt(ctx, id, BurnAt)
					if err != nil {
						t.Error(err)
					}
					return n > 0
				})
				if reserved != BurnAt {
					t.Fatalf("%d attempts reserved by %d racers, want %d", reserved, racers, BurnAt)
				}
			})
		})
	}
}
