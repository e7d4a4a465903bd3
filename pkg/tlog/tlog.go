// Package tlog is the transparency-log contract of the audit log: the C2SP tlog-checkpoint text
// (origin, tree size, root hash) signed as a golang.org/x/mod/sumdb/note with the log's Ed25519
// key, the leaf hash of an audit row, and the offline checks of checkpoints, inclusion and
// consistency proofs (RFC 6962, github.com/transparency-dev/merkle). It does no I/O, so the
// verifier needs only a public key and the files.
package tlog

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/note"

	"github.com/stasima/stasima/pkg/schema"
)

// Hasher is the log's Merkle hasher: RFC 6962 over SHA-256.
var Hasher = rfc6962.DefaultHasher

// LeafHash is the Merkle leaf hash of an audit row: RFC 6962 HashLeaf over the 64 ASCII hex
// characters of its chain hash (audit.md U-8), which covers every hashed column and, through
// prev_hash, every earlier row. Leaf i is the row with seq i+1.
func LeafHash(chainHash string) []byte { return Hasher.HashLeaf([]byte(chainHash)) }

// Checkpoint is the body of a C2SP tlog-checkpoint: the log's origin line, its tree size and
// the root hash of the tree of that size.
type Checkpoint struct {
	Origin string
	Size   uint64
	Hash   []byte
}

// Text is the checkpoint body: origin, decimal size and base64 root hash, one per line.
func (c Checkpoint) Text() string {
	return fmt.Sprintf("%s\n%d\n%s\n", c.Origin, c.Size, base64.StdEncoding.EncodeToString(c.Hash))
}

// ParseCheckpoint parses a checkpoint body (extension lines after the third are ignored, as
// C2SP tlog-checkpoint allows).
func ParseCheckpoint(text string) (Checkpoint, error) {
	lines := strings.SplitN(text, "\n", 4)
	if len(lines) < 4 {
		return Checkpoint{}, errors.New("checkpoint: want origin, size and root hash lines")
	}
	if lines[0] == "" {
		return Checkpoint{}, errors.New("checkpoint: empty origin")
	}
	size, err := strconv.ParseUint(lines[1], 10, 64)
	if err != nil || strconv.FormatUint(size, 10) != lines[1] {
		return Checkpoint{}, fmt.Errorf("checkpoint: size %q is not a decimal number", lines[1])
	}
	h, err := base64.StdEncoding.DecodeString(lines[2])
	if err != nil || len(h) != Hasher.Size() {
		return Checkpoint{}, fmt.Errorf("checkpoint: root hash %q is not %d base64 bytes", lines[2], Hasher.Size())
	}
	return Checkpoint{Origin: lines[0], Size: size, Hash: h}, nil
}

// ParseNote parses the checkpoint of a signed note without checking its signatures — for a
// holder of no key, or of the note it signed itself: the body before the blank line that opens
// the signature lines, which must follow.
func ParseNote(msg string) (Checkpoint, error) {
	body, sigs, ok := strings.Cut(msg, "\n\n")
	if !ok || !strings.HasPrefix(sigs, "— ") {
		return Checkpoint{}, errors.New("checkpoint: no signature lines")
	}
	return ParseCheckpoint(body + "\n")
}

// GenerateKey returns a new Ed25519 note key pair named origin (C2SP: a log's key name is its
// origin): the signer key (secret) and the verifier key (public), in the note package's text
// forms.
func GenerateKey(rand io.Reader, origin string) (signer, verifier string, err error) {
	return note.GenerateKey(rand, origin)
}

// Sign signs c as a note with the signer key.
func Sign(c Checkpoint, signerKey string) ([]byte, error) {
	s, err := note.NewSigner(signerKey)
	if err != nil {
		return nil, fmt.Errorf("checkpoint signer key: %w", err)
	}
	if s.Name() != c.Origin {
		return nil, fmt.Errorf("checkpoint: key name %q is not the origin %q", s.Name(), c.Origin)
	}
	return note.Sign(&note.Note{Text: c.Text()}, s)
}

// Open checks that msg is a checkpoint signed by verifierKey, whose name must be the
// checkpoint's origin, and returns it with the note (which also carries any other signatures,
// such as a witness's cosignature, as unverified).
func Open(msg []byte, verifierKey string) (Checkpoint, *note.Note, error) {
	v, err := note.NewVerifier(verifierKey)
	if err != nil {
		return Checkpoint{}, nil, fmt.Errorf("verifier key: %w", err)
	}
	n, err := note.Open(msg, note.VerifierList(v))
	if err != nil {
		return Checkpoint{}, nil, fmt.Errorf("checkpoint signature by %s: %w", v.Name(), err)
	}
	c, err := ParseCheckpoint(n.Text)
	if err != nil {
		return Checkpoint{}, nil, err
	}
	if c.Origin != v.Name() {
		return Checkpoint{}, nil, fmt.Errorf("checkpoint origin %q is not the key's log %q", c.Origin, v.Name())
	}
	return c, n, nil
}

// Encode returns proof hashes as the base64 strings of schema.TlogProof.
func Encode(hashes [][]byte) []string {
	out := make([]string, len(hashes))
	for i, h := range hashes {
		out[i] = base64.StdEncoding.EncodeToString(h)
	}
	return out
}

func decode(ss []string) ([][]byte, error) {
	out := make([][]byte, len(ss))
	for i, s := range ss {
		h, err := base64.StdEncoding.DecodeString(s)
		if err != nil || len(h) != Hasher.Size() {
			return nil, fmt.Errorf("proof hash %d %q is not %d base64 bytes", i, s, Hasher.Size())
		}
		out[i] = h
	}
	return out, nil
}

// MismatchError reports a proof that does not lead to the checkpoint: the log shown now is not
// the one the checkpoint signed. Size is the first tree size at which the two differ as far as
// the proof can tell: the leaf's position plus one for an inclusion proof, the old
// checkpoint's size for a consistency proof.
type MismatchError struct {
	Size uint64
	Err  error
}

func (e *MismatchError) Error() string {
	return fmt.Sprintf("log differs from the signed checkpoint at size %d: %v", e.Size, e.Err)
}

func (e *MismatchError) Unwrap() error { return e.Err }

// VerifyInclusion checks an inclusion proof file: its checkpoint is signed by verifierKey, the
// row's chain hash is its leaf (and rowHash, when given, recomputes that chain hash from the
// row's fields), and the proof leads from the leaf at seq-1 to the checkpoint's root.
func VerifyInclusion(p schema.TlogProof, verifierKey string, rowHash func(schema.AuditRow) (string, error)) (Checkpoint, error) {
	if p.Kind != schema.TlogInclusion {
		return Checkpoint{}, fmt.Errorf("proof kind %q, want %q", p.Kind, schema.TlogInclusion)
	}
	c, _, err := Open([]byte(p.Checkpoint), verifierKey)
	if err != nil {
		return Checkpoint{}, err
	}
	if p.Row == nil || p.Row.Seq < 1 {
		return c, errors.New("inclusion proof: no row with a seq of 1 or more")
	}
	index := uint64(p.Row.Seq - 1)
	if index >= c.Size {
		return c, fmt.Errorf("inclusion proof: row %d is beyond the checkpoint's %d rows", p.Row.Seq, c.Size)
	}
	leaf := LeafHash(p.Row.Hash)
	if p.LeafHash != "" && p.LeafHash != hex.EncodeToString(leaf) {
		return c, &MismatchError{Size: index + 1, Err: fmt.Errorf("leaf hash %s is not the row's %x", p.LeafHash, leaf)}
	}
	if rowHash != nil {
		h, err := rowHash(*p.Row)
		if err != nil {
			return c, fmt.Errorf("row %d: %w", p.Row.Seq, err)
		}
		if h != p.Row.Hash {
			return c, &MismatchError{Size: index + 1, Err: fmt.Errorf("row %d's fields hash to %s, not its hash %s", p.Row.Seq, h, p.Row.Hash)}
		}
	}
	hashes, err := decode(p.Proof)
	if err != nil {
		return c, err
	}
	if err := proof.VerifyInclusion(Hasher, index, c.Size, leaf, hashes, c.Hash); err != nil {
		return c, &MismatchError{Size: index + 1, Err: err}
	}
	return c, nil
}

// VerifyConsistency checks a consistency proof file: both checkpoints are signed by
// verifierKey and the proof shows the old tree is a prefix of the new one (an equal size needs
// equal roots).
func VerifyConsistency(p schema.TlogProof, verifierKey string) (old, cur Checkpoint, err error) {
	if p.Kind != schema.TlogConsistency {
		return old, cur, fmt.Errorf("proof kind %q, want %q", p.Kind, schema.TlogConsistency)
	}
	if old, _, err = Open([]byte(p.OldCheckpoint), verifierKey); err != nil {
		return old, cur, fmt.Errorf("old %w", err)
	}
	if cur, _, err = Open([]byte(p.Checkpoint), verifierKey); err != nil {
		return old, cur, err
	}
	return old, cur, Consistent(old, cur, p.Proof)
}

// Consistent checks that proof shows checkpoint old is a prefix of cur. A new checkpoint
// smaller than the old one, or of the same size with another root, is a fork.
func Consistent(old, cur Checkpoint, proofB64 []string) error {
	if cur.Size < old.Size {
		return &MismatchError{Size: cur.Size + 1, Err: fmt.Errorf("tree shrank from %d to %d", old.Size, cur.Size)}
	}
	hashes, err := decode(proofB64)
	if err != nil {
		return err
	}
	if old.Size == cur.Size && !bytes.Equal(old.Hash, cur.Hash) {
		return &MismatchError{Size: old.Size, Err: errors.New("same size, different roots")}
	}
	if err := proof.VerifyConsistency(Hasher, old.Size, cur.Size, hashes, old.Hash, cur.Hash); err != nil {
		return &MismatchError{Size: old.Size, Err: err}
	}
	return nil
}
