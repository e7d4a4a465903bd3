package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/stasima/stasima/pkg/bus"
	"github.com/stasima/stasima/pkg/busclient"
	"github.com/stasima/stasima/pkg/schema"
	"github.com/stasima/stasima/pkg/tlog"
)

// errFork is the witness's refusal of a checkpoint that contradicts one it cosigned.
var errFork = errors.New("fork detected")

// Files of a witness's state directory.
const (
	witnessLast   = "checkpoint" // the last checkpoint cosigned, with the log's and the witness's signatures
	witnessLogKey = "log.pub"    // the log's verifier key, pinned at the first cosignature
)

// witness cosigns checkpoints of one audit log, each only if it is consistent with the last
// one it cosigned (kept in state).
//
// The cosignature is C2SP tlog-cosignature's cosignature/v1 (timestamped Ed25519, signature
// type 0x04). Simplifications of C2SP tlog-witness: the witness serves no HTTP add-checkpoint
// endpoint (it is a CLI, or a step of admin backup and admin mirror; it fetches the
// consistency proof itself instead of being sent one), and it keeps the state of one log per
// state directory.
type witness struct {
	signer note.Signer
	// logKey is the log's verifier key; "" takes the one pinned in state, or, at the first
	// cosignature, the key the deployment names (trust on first use), which is then pinned.
	logKey string
	state  string
}

// openWitness loads the witness key (created 0600 when missing; its verifier key then goes to
// stderr) and the pinned log key, which must agree with logKey when both are given.
func openWitness(keyFile, logKey, state, name string, stderr io.Writer) (*witness, error) {
	if b, err := readProofFile(logKey); err == nil {
		logKey = strings.TrimSpace(string(b))
	}
	signer, err := witnessKey(keyFile, name, stderr)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(state, 0o700); err != nil {
		return nil, err
	}
	w := &witness{signer: signer, logKey: logKey, state: state}
	if b, err := readProofFile(filepath.Join(state, witnessLogKey)); err == nil {
		pinned := strings.TrimSpace(string(b))
		if w.logKey != "" && w.logKey != pinned {
			return nil, fmt.Errorf("witness state %s is for log key %s, not %s", state, pinned, w.logKey)
		}
		w.logKey = pinned
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	return w, nil
}

// last returns the last checkpoint this witness cosigned, nil before the first.
func (w *witness) last() ([]byte, error) {
	b, err := readProofFile(filepath.Join(w.state, witnessLast))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	return b, err
}

// cosign checks msg, a checkpoint signed by the log, against the last cosigned checkpoint —
// proof is the consistency proof from it, needed when msg's tree is larger — and cosigns it:
// it returns msg with the witness's signature added and makes it the witness's latest. A
// checkpoint that contradicts the cosigned one is refused with "fork detected" and both roots.
func (w *witness) cosign(msg []byte, proof []string) ([]byte, error) {
	if w.logKey == "" {
		return nil, errors.New("witness: no log key (--log-key, or a state that pinned one)")
	}
	cur, n, err := tlog.Open(msg, w.logKey)
	if err != nil {
		return nil, err
	}
	ob, err := w.last()
	if err != nil {
		return nil, err
	}
	if ob != nil {
		old, _, err := tlog.Open(ob, w.logKey)
		if err != nil {
			return nil, fmt.Errorf("witness state %s: %w", filepath.Join(w.state, witnessLast), err)
		}
		if cur.Size > old.Size && proof == nil {
			return nil, fmt.Errorf("checkpoint size %d is past the cosigned %d: a consistency proof is needed (--proof; stasima admin prove --from %s)",
				cur.Size, old.Size, filepath.Join(w.state, witnessLast))
		}
		var me *tlog.MismatchError
		if err := tlog.Consistent(old, cur, proof); errors.As(err, &me) {
			return nil, fmt.Errorf("%w: cosigned size %d root %x, offered size %d root %x (%v)", errFork, old.Size, old.Hash, cur.Size, cur.Hash, me.Err)
		} else if err != nil {
			return nil, err
		}
	}
	// Only the log's signature is carried over: any other signature on msg is unverified.
	var logSigs []note.Signature
	for _, s := range n.Sigs {
		if s.Name == cur.Origin {
			logSigs = append(logSigs, s)
		}
	}
	out, err := note.Sign(&note.Note{Text: n.Text, Sigs: logSigs}, w.signer)
	if err != nil {
		return nil, err
	}
	if err := writeFileAtomic(filepath.Join(w.state, witnessLast), out, 0o600); err != nil {
		return nil, err
	}
	if err := writeFileAtomic(filepath.Join(w.state, witnessLogKey), []byte(w.logKey+"\n"), 0o600); err != nil {
		return nil, err
	}
	return out, nil
}

// logSource is where a witness asks a deployment for its latest checkpoint and for the
// consistency proof from an earlier one: the bus (admin's credentials) or the gateway's public
// GET /checkpoint and POST /checkpoint/consistency.
type logSource interface {
	// latest returns the latest signed checkpoint and, when the source names it, the log key.
	latest(ctx context.Context) (note []byte, key string, err error)
	consistency(ctx context.Context, from []byte) (schema.TlogProof, error)
}

// busSource asks over the bus.
type busSource struct{ c *busclient.Client }

func (b busSource) latest(ctx context.Context) ([]byte, string, error) {
	var cp schema.TlogCheckpoint
	err := b.c.Query(ctx, bus.Audit, schema.QAuditCheckpoint, nil, &cp)
	return []byte(cp.Note), cp.Key, err
}

func (b busSource) consistency(ctx context.Context, from []byte) (schema.TlogProof, error) {
	var p schema.TlogProof
	err := b.c.Query(ctx, bus.Audit, schema.QAuditConsistency, schema.TlogProveQuery{From: string(from)}, &p)
	return p, err
}

// httpSource asks the gateway at base (http://host:port).
type httpSource struct{ base string }

// maxWitnessAnswer bounds what the witness reads from the gateway.
const maxWitnessAnswer = 1 << 20

func (h httpSource) do(ctx context.Context, method, path string, body []byte) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimSuffix(h.base, "/")+path, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxWitnessAnswer))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, strings.TrimSpace(string(b)))
	}
	return b, nil
}

func (h httpSource) latest(ctx context.Context) ([]byte, string, error) {
	b, err := h.do(ctx, http.MethodGet, "/checkpoint", nil)
	return b, "", err
}

func (h httpSource) consistency(ctx context.Context, from []byte) (schema.TlogProof, error) {
	var p schema.TlogProof
	q, _ := json.Marshal(schema.TlogProveQuery{From: string(from)})
	b, err := h.do(ctx, http.MethodPost, "/checkpoint/consistency", q)
	if err == nil {
		err = json.Unmarshal(b, &p)
	}
	return p, err
}

// cosignFrom has the witness ask the deployment itself: the latest checkpoint, and the
// consistency proof from the last cosigned checkpoint when the tree has grown, then cosign.
func (w *witness) cosignFrom(ctx context.Context, src logSource) ([]byte, error) {
	msg, key, err := src.latest(ctx)
	if err != nil {
		return nil, err
	}
	if w.logKey == "" {
		w.logKey = key
	}
	if w.logKey == "" {
		return nil, errors.New("witness: no log key (--log-key, or a state that pinned one)")
	}
	var proof []string
	last, err := w.last()
	if err != nil {
		return nil, err
	}
	if last != nil {
		cur, _, err := tlog.Open(msg, w.logKey)
		if err != nil {
			return nil, err
		}
		old, _, err := tlog.Open(last, w.logKey)
		if err != nil {
			return nil, fmt.Errorf("witness state %s: %w", filepath.Join(w.state, witnessLast), err)
		}
		if cur.Size > old.Size {
			p, err := src.consistency(ctx, last)
			if err != nil {
				return nil, fmt.Errorf("consistency proof from the cosigned size %d: %w", old.Size, err)
			}
			// The proof leads to the latest checkpoint when it was made, which may be newer.
			msg, proof = []byte(p.Checkpoint), p.Proof
		}
	}
	return w.cosign(msg, proof)
}

// cosigned is what the deployment reports of a witness: the size of the last checkpoint it
// cosigned and the witness's key name.
type cosigned struct {
	Size    uint64 `json:"witness_cosigned_size"`
	Witness string `json:"witness"`
}

// lastCosigned reads the witness state and checks its checkpoint carries the log's signature
// and the witness's own.
func (w *witness) lastCosigned() (*cosigned, error) {
	b, err := w.last()
	if err != nil || b == nil {
		return nil, err
	}
	v, err := verifierOf(w.signer)
	if err != nil {
		return nil, err
	}
	lv, err := note.NewVerifier(w.logKey)
	if err != nil {
		return nil, fmt.Errorf("pinned log key: %w", err)
	}
	n, err := note.Open(b, note.VerifierList(lv, v))
	if err != nil {
		return nil, fmt.Errorf("witness state %s: %w", filepath.Join(w.state, witnessLast), err)
	}
	if len(n.Sigs) != 2 {
		return nil, fmt.Errorf("witness state %s lacks the log's or the witness's signature", filepath.Join(w.state, witnessLast))
	}
	c, err := tlog.ParseCheckpoint(n.Text)
	if err != nil {
		return nil, err
	}
	return &cosigned{Size: c.Size, Witness: w.signer.Name()}, nil
}

// verifierOf returns the verifier of the witness's cosignatures.
func verifierOf(s note.Signer) (note.Verifier, error) {
	c, ok := s.(*tlog.Cosigner)
	if !ok {
		return nil, errors.New("witness key: not an Ed25519 cosigner")
	}
	return tlog.NewCosignatureVerifier(c.VerifierKey())
}

// cmdWitness is `stasima witness`: it cosigns the checkpoint in checkpointFile (with the
// consistency proof file proofFile), or asks the deployment for its latest checkpoint and the
// consistency proof itself — over HTTP at url (the gateway), or over the bus when dep is set. It prints the checkpoint carrying the log's
// signature and the witness's, and makes it the witness's latest.
func cmdWitness(ctx context.Context, checkpointFile, keyFile, logKey, state, proofFile, name, url string, dep func(func(*busclient.Client) (any, error)) (any, error), stdout, stderr io.Writer) error {
	w, err := openWitness(keyFile, logKey, state, name, stderr)
	if err != nil {
		return err
	}
	var out []byte
	switch {
	case url != "":
		out, err = w.cosignFrom(ctx, httpSource{base: url})
	case checkpointFile == "":
		if dep == nil {
			return fmt.Errorf("%w: give a checkpoint file, --url, or --data/--config to ask the deployment", errUsage)
		}
		_, err = dep(func(c *busclient.Client) (any, error) {
			out, err = w.cosignFrom(ctx, busSource{c})
			return nil, err
		})
	default:
		var b []byte
		if b, err = readProofFile(checkpointFile); err != nil {
			return err
		}
		var proof []string
		if proofFile != "" {
			pb, err := readProofFile(proofFile)
			if err != nil {
				return err
			}
			var p schema.TlogProof
			if err := json.Unmarshal(pb, &p); err != nil || p.Kind != schema.TlogConsistency {
				return fmt.Errorf("proof %s is not a consistency proof file", proofFile)
			}
			proof = p.Proof
		}
		out, err = w.cosign([]byte(checkpointNote(b)), proof)
	}
	if err != nil {
		return err
	}
	_, err = stdout.Write(out)
	return err
}

// witnessKey loads the witness's key, creating it (0600) when the file is absent. The file
// holds an Ed25519 note signer key (PRIVATE+KEY+<name>+<hash>+<base64 of 0x01 and the seed>);
// the witness signs with that key as a C2SP cosignature/v1 cosigner, whose verifier key (type
// 0x04) is printed when the file is created.
func witnessKey(path, name string, stderr io.Writer) (*tlog.Cosigner, error) {
	b, err := readSecretFile("witness key", path)
	created := false
	if errors.Is(err, os.ErrNotExist) {
		skey, _, gerr := note.GenerateKey(rand.Reader, name)
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
		b, created = []byte(skey), true
	} else if err != nil {
		return nil, err
	}
	keyName, priv, err := ed25519SignerKey(strings.TrimSpace(string(b)))
	if err != nil {
		return nil, err
	}
	c, err := tlog.NewCosigner(keyName, priv, func() uint64 { return uint64(time.Now().Unix()) })
	if err != nil {
		return nil, err
	}
	if created {
		fmt.Fprintf(stderr, "witness key created; verifier key (cosignature/v1): %s\n", c.VerifierKey())
	}
	return c, nil
}

// ed25519SignerKey reads a note signer key (PRIVATE+KEY+<name>+<hash>+<base64 of 0x01 and the
// Ed25519 seed>): its name and private key.
func ed25519SignerKey(skey string) (string, ed25519.PrivateKey, error) {
	parts := strings.SplitN(skey, "+", 5)
	if len(parts) != 5 || parts[0] != "PRIVATE" || parts[1] != "KEY" {
		return "", nil, errors.New("witness key: not a note signer key")
	}
	raw, err := base64.StdEncoding.DecodeString(parts[4])
	if err != nil || len(raw) != 1+ed25519.SeedSize || raw[0] != 1 {
		return "", nil, errors.New("witness key: not an Ed25519 note signer key")
	}
	return parts[2], ed25519.NewKeyFromSeed(raw[1:]), nil
}
