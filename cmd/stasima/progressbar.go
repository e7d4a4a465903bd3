package main

import (
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/stasima/stasima/pkg/schema"
)

// bar draws a job's progress reports as one redrawn line per phase ("\r"), finishing the line
// when the phase changes or completes. It writes only where newProgress found a terminal.
type bar struct {
	mu    sync.Mutex
	w     io.Writer
	phase string
}

func newBar(p progress) *bar { return &bar{w: p.w} }

const barWidth = 30

func (b *bar) report(p schema.Progress) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.w == io.Discard {
		return
	}
	if b.phase != "" && p.Phase != b.phase {
		fmt.Fprintln(b.w)
	}
	b.phase = p.Phase
	fmt.Fprint(b.w, "\r"+barLine(p))
	if p.Total > 0 && p.Done >= p.Total {
		fmt.Fprintln(b.w)
		b.phase = ""
	}
}

// finish ends a line left open.
func (b *bar) finish() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.phase != "" && b.w != io.Discard {
		fmt.Fprintln(b.w)
	}
	b.phase = ""
}

// barLine renders one report: "derive [#########.....]  3/12".
func barLine(p schema.Progress) string {
	if p.Total <= 0 {
		return fmt.Sprintf("%-7s %d", p.Phase, p.Done)
	}
	n := min(barWidth, barWidth*p.Done/p.Total)
	return fmt.Sprintf("%-7s [%s%s] %d/%d", p.Phase, strings.Repeat("#", n), strings.Repeat(".", barWidth-n), p.Done, p.Total)
}
