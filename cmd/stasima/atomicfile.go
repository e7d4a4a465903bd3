package main

import (
	"errors"
	"io"
	"os"
	"path/filepath"
)

// writeAtomic writes dst through a new temporary file beside it and renames it into place, so
// a reader sees the old content or the new, never half. The temporary file is created with
// O_EXCL under a random name (os.CreateTemp), owner-only until it gets mode: a file or symlink
// planted at a predictable "<dst>.tmp" is neither followed nor clobbered. fill writes the
// content; on any failure the temporary file is removed and dst is untouched.
func writeAtomic(dst string, mode os.FileMode, fill func(io.Writer) error) (err error) {
	tmp, err := os.CreateTemp(filepath.Dir(dst), "."+filepath.Base(dst)+".tmp-*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tmp.Close()
			_ = os.Remove(tmp.Name())
		}
	}()
	if err = tmp.Chmod(mode); err != nil {
		return err
	}
	if err = fill(tmp); err != nil {
		return err
	}
	if err = tmp.Sync(); err != nil {
		return err
	}
	if err = tmp.Close(); err != nil {
		return err
	}
	if err = os.Rename(tmp.Name(), dst); err != nil {
		return errors.Join(err, os.Remove(tmp.Name()))
	}
	return nil
}

// writeBytesAtomic is writeAtomic of data.
func writeBytesAtomic(dst string, data []byte, mode os.FileMode) error {
	return writeAtomic(dst, mode, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}
