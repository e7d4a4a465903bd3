package memlog_test

import (
	"context"
	"sync"
	"testing"

	"github.com/stasima/stasima/services/airlock/internal/approval"
	"github.com/stasima/stasima/services/airlock/internal/memlog"
)

func TestLog(t *testing.T) {
	ctx := t.Context()
	l := memlog.New()
	for i, op := range []string{"a", "b", "a"} {
		seq, err := l.Append(ctx, approval.Record{Actor: "system", Op: op, Detail: []byte(`{"i":` + string(rune('0'+i)) + `}`)})
		if err != nil || seq != int64(i+1) {
			t.Fatalf("append %d = %d, %v", i, seq, err)
		}
	}
	rows, err := l.Rows(ctx, "a")
	if err != nil || len(rows) != 2 || rows[0].Seq != 1 || rows[1].Seq != 3 || string(rows[1].Detail) != `{"i":2}` {
		t.Fatalf("rows = %+v, %v", rows, err)
	}
	rows[0].Detail[1] = 'X' // callers get copies
	if again, _ := l.Rows(ctx, "a"); string(again[0].Detail) != `{"i":0}` {
		t.Error("Rows shares its storage")
	}
	if seq, err := l.Append(ctx, approval.Record{Actor: "system", Op: "c"}); err != nil || seq != 4 {
		t.Errorf("empty detail: %d, %v", seq, err)
	}
	if all := l.All(); string(all[3].Detail) != "{}" {
		t.Errorf("empty detail stored as %s", all[3].Detail)
	}
	for _, bad := range []approval.Record{
		{Op: "x", Detail: []byte(`{}`)},
		{Actor: "a", Detail: []byte(`{}`)},
		{Actor: "a", Op: "x", Detail: []byte(`[]`)},
		{Actor: "a", Op: "x", Detail: []byte(`null`)},
		{Actor: "a", Op: "x", Detail: []byte(`{`)},
	} {
		if _, err := l.Append(ctx, bad); err == nil {
			t.Errorf("Append(%+v) accepted", bad)
		}
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := l.Append(cctx, approval.Record{Actor: "a", Op: "x"}); err == nil {
		t.Error("append with a cancelled context")
	}
}

func TestLog_concurrent(t *testing.T) {
	ctx := t.Context()
	var l memlog.Log
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			if _, err := l.Append(ctx, approval.Record{Actor: "a", Op: "x"}); err != nil {
				t.Error(err)
			}
			if _, err := l.Rows(ctx, "x"); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	for i, r := range l.All() {
		if r.Seq != int64(i+1) {
			t.Fatalf("row %d has seq %d", i, r.Seq)
		}
	}
}
