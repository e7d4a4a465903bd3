package tlog

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
)

// algCosignatureV1 is the signed-note signature type of a C2SP tlog-cosignature Ed25519
// cosignature (cosignature/v1).
const algCosignatureV1 = 0x04

// cosignedMessage is what a cosignature/v1 signs: the header line, the timestamp line and the
// whole note body of the checkpoint (C2SP tlog-cosignature, "Ed25519 signed message").
func cosignedMessage(ts uint64, body []byte) []byte {
	return append([]byte("cosignature/v1\ntime "+strconv.FormatUint(ts, 10)+"\n"), body...)
}

// cosignerKeyHash is the key ID of an Ed25519 cosigner: SHA-256(name || "\n" || 0x04 || key)[:4].
func cosignerKeyHash(name string, pub ed25519.PublicKey) uint32 {
	h := sha256.New()
	h.Write([]byte(name + "\n"))
	h.Write([]byte{algCosignatureV1})
	h.Write(pub)
	return binary.BigEndian.Uint32(h.Sum(nil))
}

// Cosigner signs C2SP tlog-cosignature v1 cosignatures (timestamped Ed25519) as note
// signatures; Now gives the POSIX timestamp each cosignature states.
type Cosigner struct {
	name string
	priv ed25519.PrivateKey
	now  func() uint64
}

// NewCosigner returns the cosigner name with the Ed25519 private key priv.
func NewCosigner(name string, priv ed25519.PrivateKey, now func() uint64) (*Cosigner, error) {
	if name == "" || strings.ContainsAny(name, "+ \t\n") || len(priv) != ed25519.PrivateKeySize {
		return nil, errors.New("cosigner: want a name without '+' or spaces and an Ed25519 private key")
	}
	return &Cosigner{name: name, priv: priv, now: now}, nil
}

// Name is the cosigner's key name.
func (c *Cosigner) Name() string { return c.name }

// KeyHash is the cosigner's key ID (with signature type 0x04).
func (c *Cosigner) KeyHash() uint32 {
	return cosignerKeyHash(c.name, c.priv.Public().(ed25519.PublicKey))
}

// Sign returns the timestamped_signature over the checkpoint body msg: the timestamp (8 bytes,
// big-endian) and the Ed25519 signature of the cosigned message.
func (c *Cosigner) Sign(msg []byte) ([]byte, error) {
	ts := c.now()
	if ts > math.MaxInt64 {
		return nil, errors.New("cosigner: timestamp beyond 2^63-1")
	}
	out := binary.BigEndian.AppendUint64(nil, ts)
	return append(out, ed25519.Sign(c.priv, cosignedMessage(ts, msg))...), nil
}

// VerifierKey is the cosigner's public key as a signed-note vkey with signature type 0x04.
func (c *Cosigner) VerifierKey() string {
	pub := c.priv.Public().(ed25519.PublicKey)
	return fmt.Sprintf("%s+%08x+%s", c.name, c.KeyHash(), base64.StdEncoding.EncodeToString(append([]byte{algCosignatureV1}, pub...)))
}

// cosignatureVerifier checks cosignature/v1 signatures of one cosigner.
type cosignatureVerifier struct {
	name string
	hash uint32
	pub  ed25519.PublicKey
}

// NewCosignatureVerifier parses a cosigner's vkey (name+hash+base64(0x04 || Ed25519 key)).
func NewCosignatureVerifier(vkey string) (note.Verifier, error) {
	name, rest, ok1 := strings.Cut(vkey, "+")
	hexHash, b64, ok2 := strings.Cut(rest, "+")
	h, err := strconv.ParseUint(hexHash, 16, 32)
	if !ok1 || !ok2 || err != nil || len(hexHash) != 8 || name == "" {
		return nil, fmt.Errorf("cosigner key %q: want name+hash+key", vkey)
	}
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil || len(raw) != 1+ed25519.PublicKeySize || raw[0] != algCosignatureV1 {
		return nil, fmt.Errorf("cosigner key %q: not an Ed25519 cosignature/v1 key", vkey)
	}
	pub := ed25519.PublicKey(raw[1:])
	if cosignerKeyHash(name, pub) != uint32(h) {
		return nil, fmt.Errorf("cosigner key %q: key hash does not match", vkey)
	}
	return &cosignatureVerifier{name: name, hash: uint32(h), pub: pub}, nil
}

func (v *cosignatureVerifier) Name() string    { return v.name }
func (v *cosignatureVerifier) KeyHash() uint32 { return v.hash }

func (v *cosignatureVerifier) Verify(msg, sig []byte) bool {
	if len(sig) != 8+ed25519.SignatureSize {
		return false
	}
	ts := binary.BigEndian.Uint64(sig[:8])
	return ts <= math.MaxInt64 && ed25519.Verify(v.pub, cosignedMessage(ts, msg), sig[8:])
}

// CosignatureTime returns the timestamp of a cosignature/v1 note signature (its base64 text).
func CosignatureTime(sigB64 string) (uint64, error) {
	b, err := base64.StdEncoding.DecodeString(sigB64)
	if err != nil || len(b) != 4+8+ed25519.SignatureSize {
		return 0, errors.New("not a cosignature/v1 signature")
	}
	return binary.BigEndian.Uint64(b[4:12]), nil
}
