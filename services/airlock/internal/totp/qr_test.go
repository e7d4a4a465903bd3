package totp_test

import (
	"strings"
	"testing"
	"time"

	"github.com/stasima/stasima/services/airlock/internal/totp"
)

// byteCapacityM is the byte-mode capacity of QR versions 1…10 at error correction M (ISO/IEC
// 18004 table 7): an otpauth URI, lower-case letters and all, fits the first version listed
// that holds its length.
var byteCapacityM = []int{14, 26, 42, 62, 84, 106, 122, 152, 180, 213}

// parseHalfBlocks reads RenderQR's text back into modules, true = dark. Each rune is two
// module rows; its drawn half is light (dark-terminal polarity).
func parseHalfBlocks(t *testing.T, text string) [][]bool {
	t.Helper()
	var out [][]bool
	for _, line := range strings.Split(strings.TrimSuffix(text, "\n"), "\n") {
		var top, bottom []bool
		for _, r := range line {
			switch r {
			case ' ':
				top, bottom = append(top, true), append(bottom, true)
			case '█':
				top, bottom = append(top, false), append(bottom, false)
			case '▀':
				top, bottom = append(top, false), append(bottom, true)
			case '▄':
				top, bottom = append(top, true), append(bottom, false)
			default:
				t.Fatalf("unexpected rune %q in the QR", r)
			}
		}
		out = append(out, top, bottom)
	}
	return out
}

// finderAt reports whether the 7×7 finder pattern (dark ring, light ring, dark 3×3 core) sits
// with its top-left module at (x, y).
func finderAt(m [][]bool, x, y int) bool {
	for dy := 0; dy < 7; dy++ {
		for dx := 0; dx < 7; dx++ {
			ring := max(abs(dx-3), abs(dy-3))
			if want := ring != 2; m[y+dy][x+dx] != want {
				return false
			}
		}
	}
	return true
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}

// versionInfo is the 18-bit version information of a version-v symbol (v ≥ 7, ISO/IEC
// 18004 §7.10): v in the top 6 bits, then the BCH(18,6) remainder of generator 0x1F25.
func versionInfo(v int) int {
	rem := v << 12
	for bit := 17; bit >= 12; bit-- {
		if rem&(1<<bit) != 0 {
			rem ^= 0x1F25 << (bit - 12)
		}
	}
	return v<<12 | rem
}

// readVersionInfo reads the two version information blocks of a symbol of size modules whose
// top-left module is at (q, q): bit i sits at (i/3, size-11+i%3) and, transposed, at
// (size-11+i%3, i/3).
func readVersionInfo(m [][]bool, q, size int) (bottomLeft, topRight int) {
	for i := 0; i < 18; i++ {
		if m[q+size-11+i%3][q+i/3] {
			bottomLeft |= 1 << i
		}
		if m[q+i/3][q+size-11+i%3] {
			topRight |= 1 << i
		}
	}
	return bottomLeft, topRight
}

// TestRenderQR is O-totp-3's terminal QR, checked from the text alone: the half blocks read
// back into a square symbol inside a light quiet zone of four modules, with the three finder
// patterns of a QR code, whose size is the one its version information (both copies) names,
// and that version is no larger than plain byte mode would need for the URI (the encoder may
// pack the upper-case secret denser, never looser).
func TestRenderQR(t *testing.T) {
	s := mustParse(t, rfcSecret)
	for _, issuer := range []string{totp.DefaultIssuer, "Stasima Lab ünd Co"} {
		t.Run(issuer, func(t *testing.T) {
			uri := totp.AccountURI(s, issuer, totp.LandAccount)
			text, err := totp.RenderQR(uri)
			if err != nil {
				t.Fatal(err)
			}
			m := parseHalfBlocks(t, text)
			const quiet = 4
			total := len(m[0])
			size := total - 2*quiet
			version := (size - 17) / 4
			if size != 17+4*version || version < 7 {
				t.Fatalf("QR is %d modules wide: not a version ≥ 7 symbol plus the quiet zone", total)
			}
			// An odd total leaves the last text row's lower half undrawn (read as dark).
			if len(m) != total+total%2 {
				t.Fatalf("QR has %d module rows, want %d", len(m), total)
			}
			byteVersion := 0
			for i, c := range byteCapacityM {
				if len(uri) <= c {
					byteVersion = i + 1
					break
				}
			}
			if byteVersion == 0 || version > byteVersion {
				t.Errorf("version %d for %d bytes; byte mode needs version %d", version, len(uri), byteVersion)
			}
			for y, row := range m[:total] {
				if len(row) != total {
					t.Fatalf("row %d has %d modules, want %d", y, len(row), total)
				}
			}
			for i := 0; i < total; i++ {
				for _, p := range [][2]int{{i, 0}, {0, i}, {i, total - 1}, {total - 1, i}} {
					if m[p[1]][p[0]] {
						t.Fatalf("quiet zone module (%d,%d) is dark", p[0], p[1])
					}
				}
			}
			for _, p := range [][2]int{{quiet, quiet}, {quiet + size - 7, quiet}, {quiet, quiet + size - 7}} {
				if !finderAt(m, p[0], p[1]) {
					t.Errorf("no finder pattern at (%d,%d)", p[0], p[1])
				}
			}
			bl, tr := readVersionInfo(m, quiet, size)
			if want := versionInfo(version); bl != want || tr != want {
				t.Errorf("version information %#x / %#x, want %#x (version %d)", bl, tr, want, version)
			}
		})
	}
}

// TestWindow_realClock checks A-1's window arithmetic on the server's real clock (INV-17),
// without waiting for it: Window(now) is floor(unix/30), and the next window has another code.
func TestWindow_realClock(t *testing.T) {
	now := time.Now()
	w := totp.Window(now)
	if want := now.Unix() / totp.Step; w != want { // after 1970 integer division is floor
		t.Errorf("Window(%v) = %d, want %d", now, w, want)
	}
	if start := time.Unix(w*totp.Step, 0); totp.Window(start) != w || totp.Window(start.Add(-time.Nanosecond)) != w-1 {
		t.Errorf("window %d does not start at %v", w, start)
	}
	s := mustParse(t, rfcSecret)
	cur, next := code(t, s, w), code(t, s, w+1)
	if cur == next {
		// HOTP codes of two counters coincide with probability 10⁻⁶; the RFC key is fixed, so
		// this names the window for a reproduction.
		t.Errorf("windows %d and %d share code %s", w, w+1, cur)
	}
}
