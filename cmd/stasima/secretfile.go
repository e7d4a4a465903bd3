package main

import (
	"fmt"
	"io"
	"os"
)

// maxSecretFile bounds what readSecretFile reads: credentials are a few kilobytes at most.
const maxSecretFile = 64 << 10

// readSecretFile reads the secret file at path (what names its config key in errors). A file
// that grants any permission to group or others is refused before its content is read, with the
// chmod that fixes it (operations §8.3): a bus password anyone on the host can read is every
// permission of its component. The mode is checked on the open file, so a rename in between
// cannot swap in another.
func readSecretFile(what, path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	if m := fi.Mode().Perm(); m&0o077 != 0 {
		return nil, fmt.Errorf("%s %s has mode %#o: group or others may read it, want 0600 — run: chmod 600 %s", what, path, m, path)
	}
	b, err := io.ReadAll(io.LimitReader(f, maxSecretFile+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	if len(b) > maxSecretFile {
		return nil, fmt.Errorf("%s %s is over %d bytes: not a credentials file", what, path, maxSecretFile)
	}
	return b, nil
}
