package main

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/mod/sumdb/note"

	"github.com/stasima/stasima/pkg/schema"
	"github.com/stasima/stasima/pkg/tlog"
)

// errFork is the witness's refusal of a checkpoint that contradicts one it cosigned.
var errFork = errors.New("fork detected")

// cmdWitness is `stasima witness --key <witness-key> --log-key <verifier> --state <dir>
// [--proof <consistency-proof-file>] <checkpoint-file>`: it cosigns a checkpoint of the audit
// log only if it is consistent with the last checkpoint this witness cosigned (kept in <dir>),
// and refuses with "fork detected" and both roots otherwise. The consistency proof is the file
// `admin prove --from <dir>/checkpoint` writes. On success it prints the checkpoint carrying
// the log's signature and the witness's, and makes it the witness's latest.
//
// Simplifications of C2SP tlog-witness: the cosignature is an ordinary Ed25519 note signature
// by the witness key over the checkpoint body (not the timestamped cosignature/v1 algorithm),
// the witness serves no HTTP add-checkpoint endpoint (it is a CLI over files), and it keeps
// the state of one log per state directory. The witness key file holds the note signer key
// (generated, mode 0600, when the file does not exist); its verifier key is printed to stderr.
func cmdWitness(checkpointFile, keyFile, logKey, state, proofFile, name string, stdout, stderr io.Writer) error {
	vkey := logKey
	if b, err := os.ReadFile(vkey); err == nil {
		vkey = strings.TrimSpace(string(b))
	}
	signer, err := witnessKey(keyFile, name, stderr)
	if err != nil {
		return err
	}
	b, err := os.ReadFile(checkpointFile)
	if err != nil {
		return err
	}
	msg := []byte(checkpointNote(b))
	cur, n, err := tlog.Open(msg, vkey)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(state, 0o700); err != nil {
		return err
	}
	last := filepath.Join(state, "checkpoint")
	if ob, err := os.ReadFile(last); err == nil {
		old, _, err := tlog.Open(ob, vkey)
		if err != nil {
			return fmt.Errorf("witness state %s: %w", last, err)
		}
		var proof []string
		if cur.Size > old.Size {
			if proofFile == "" {
				return fmt.Errorf("checkpoint size %d is past the cosigned %d: a consistency proof is needed (--proof; stasima admin prove --from %s)", cur.Size, old.Size, last)
			}
			pb, err := os.ReadFile(proofFile)
			if err != nil {
				return err
			}
			var p schema.TlogProof
			if err := json.Unmarshal(pb, &p); err != nil || p.Kind != schema.TlogConsistency {
				return fmt.Errorf("proof %s is not a consistency proof file", proofFile)
			}
			proof = p.Proof
		}
		var me *tlog.MismatchError
		if err := tlog.Consistent(old, cur, proof); errors.As(err, &me) {
			return fmt.Errorf("%w: cosigned size %d root %x, offered size %d root %x (%v)", errFork, old.Size, old.Hash, cur.Size, cur.Hash, me.Err)
		} else if err != nil {
			return err
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return err
	}
	out, err := note.Sign(&note.Note{Text: n.Text, Sigs: n.Sigs}, signer)
	if err != nil {
		return err
	}
	if err := writeFileAtomic(last, out, 0o600); err != nil {
		return err
	}
	_, err = stdout.Write(out)
	return err
}

// witnessKey loads the witness's note signer key, creating it (0600) when the file is absent.
func witnessKey(path, name string, stderr io.Writer) (note.Signer, error) {
	b, err := readSecretFile("witness key", path)
	if errors.Is(err, os.ErrNotExist) {
		skey, vkey, gerr := note.GenerateKey(rand.Reader, name)
		if gerr != nil {
			return nil, gerr
		}
		f, oerr := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if oerr != nil {
			return nil, oerr
		}
		if _, werr := io.WriteString(f, skey+"\n"); werr != nil {
			f.Close()
			return nil, werr
		}
		if cerr := f.Close(); cerr != nil {
			return nil, cerr
		}
		fmt.Fprintf(stderr, "witness key created; verifier key: %s\n", vkey)
		b = []byte(skey)
	} else if err != nil {
		return nil, err
	}
	return note.NewSigner(strings.TrimSpace(string(b)))
}
