package keyring

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"github.com/cofferhq/coffer"
)

const envelopeFormat = "coffer-root/v1"

// Provider names, as in keys.provider.
const (
	ProviderFile       = "file"
	ProviderPassphrase = "passphrase"
	ProviderShamir     = "shamir"
	ProviderPKCS11     = "pkcs11"
)

// An Envelope is the stored form of a wrapped root (age's stanza): which
// provider wrapped it, that provider's public parameters, and the root
// sealed with AES-256-GCM. It holds nothing that opens the root by itself,
// but is written 0600 all the same. The parameters are bound into the
// AEAD's additional data, so an edited envelope does not open.
//
// The version metadata (Current, DerivedCurrent, Min, Exported) is public
// and deliberately outside the additional data: a rotation on the running
// server rewrites it without the wrapping key (EnvelopeSource). It is not
// authenticated: whoever can write the file can change it.
type Envelope struct {
	Format   string `json:"format"`
	Provider string `json:"provider"`
	// ID names this wrapping (random, 8 bytes in hex). Shamir shares carry
	// it, so a share of another key set is refused by name.
	ID string `json:"id"`
	// Current is the current KEK version (not secret; Derive's argument).
	Current uint32 `json:"current"`
	// DerivedCurrent is the current derived-key root version (0: 1).
	DerivedCurrent uint32 `json:"derived_current,omitempty"`
	// Min is min_decryption_version: KEK versions below it were retired
	// and are never derived again (0: none retired).
	Min uint32 `json:"min_decryption_version,omitempty"`
	// Exported lists the KEK versions written out with ExportKEK, which
	// retirement requires unless forced.
	Exported []uint32 `json:"exported,omitempty"`

	Argon2id *Argon2Params `json:"argon2id,omitempty"`
	Shamir   *ShamirParams `json:"shamir,omitempty"`
	PKCS11   *PKCS11Params `json:"pkcs11,omitempty"`

	Nonce   []byte `json:"nonce"`   // 12 bytes
	Wrapped []byte `json:"wrapped"` // root (32 bytes) + GCM tag (16 bytes)
}

// ShamirParams are a Shamir split's public parameters.
type ShamirParams struct {
	Threshold int `json:"threshold"`
	Shares    int `json:"shares"`
}

// PKCS11Params name the HSM key that wraps the root.
type PKCS11Params struct {
	KeyLabel string `json:"key_label"`
}

func newEnvelope(provider string) *Envelope {
	id := make([]byte, 8)
	rand.Read(id)
	return &Envelope{Format: envelopeFormat, Provider: provider, ID: hex.EncodeToString(id), Current: 1}
}

// aad binds every public parameter of the envelope to the wrapped root.
func (e *Envelope) aad() []byte {
	s := envelopeFormat + "|" + e.Provider + "|" + e.ID
	if p := e.Argon2id; p != nil {
		s += fmt.Sprintf("|argon2id:%d:%d:%d:%x", p.Time, p.MemoryKiB, p.Threads, p.Salt)
	}
	if p := e.Shamir; p != nil {
		s += fmt.Sprintf("|shamir:%d:%d", p.Threshold, p.Shares)
	}
	if p := e.PKCS11; p != nil {
		s += "|pkcs11:" + strconv.Quote(p.KeyLabel)
	}
	return []byte(s)
}

// seal wraps root under a 32-byte software key.
func (e *Envelope) seal(key []byte, r *Root) error {
	if r.Destroyed() {
		return errors.New("keyring: the root was destroyed")
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return err
	}
	g, err := cipher.NewGCM(block)
	if err != nil {
		return err
	}
	e.Nonce = make([]byte, g.NonceSize())
	rand.Read(e.Nonce)
	e.Wrapped = g.Seal(nil, e.Nonce, r.b, e.aad())
	return nil
}

var errOpen = errors.New("keyring: the root did not open")

// open unwraps the root with a 32-byte software key; errOpen when the key
// is wrong or the envelope was edited.
func (e *Envelope) open(key []byte) (*Root, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	g, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	if len(e.Nonce) != g.NonceSize() {
		return nil, errOpen
	}
	b, err := g.Open(nil, e.Nonce, e.Wrapped, e.aad())
	if err != nil || len(b) != RootSize {
		clear(b)
		return nil, errOpen
	}
	return &Root{b: b}, nil
}

// ParseEnvelope parses and checks an envelope document.
func ParseEnvelope(b []byte) (*Envelope, error) {
	var e Envelope
	if err := json.Unmarshal(b, &e); err != nil {
		return nil, errors.New("keyring: not a Coffer root envelope (malformed JSON)")
	}
	if err := e.check(); err != nil {
		return nil, err
	}
	return &e, nil
}

func (e *Envelope) check() error {
	bad := func(what string) error { return errors.New("keyring: root envelope: " + what) }
	if e.Format != envelopeFormat {
		return bad("unknown format (want " + envelopeFormat + ")")
	}
	if id, err := hex.DecodeString(e.ID); err != nil || len(id) != 8 {
		return bad("the id is not 8 bytes of hex")
	}
	if e.Current == 0 || e.Current > 1<<16 {
		return bad("the current KEK version is between 1 and 65536")
	}
	if e.DerivedCurrent > 1<<16 {
		return bad("the current derived-key root version is between 1 and 65536")
	}
	if e.Min > e.Current {
		return bad("min_decryption_version is above the current KEK version")
	}
	for _, v := range e.Exported {
		if v == 0 || v > e.Current {
			return bad("an exported KEK version is not between 1 and the current version")
		}
	}
	if len(e.Nonce) != 12 || len(e.Wrapped) != RootSize+16 {
		return bad("the wrapped root has the wrong size")
	}
	n := 0
	for _, set := range []bool{e.Argon2id != nil, e.Shamir != nil, e.PKCS11 != nil} {
		if set {
			n++
		}
	}
	if n != 1 {
		return bad("exactly one provider's parameters")
	}
	switch e.Provider {
	case ProviderPassphrase:
		if e.Argon2id == nil {
			return bad("passphrase without argon2id parameters")
		}
		return e.Argon2id.check()
	case ProviderShamir:
		if e.Shamir == nil {
			return bad("shamir without its parameters")
		}
		if k, n := e.Shamir.Threshold, e.Shamir.Shares; k < 2 || k > n || n > 255 {
			return bad("shamir needs 2 ≤ threshold ≤ shares ≤ 255")
		}
	case ProviderPKCS11:
		if e.PKCS11 == nil || e.PKCS11.KeyLabel == "" || len(e.PKCS11.KeyLabel) > 128 {
			return bad("pkcs11 without a key label")
		}
	default:
		return bad("unknown provider")
	}
	return nil
}

// Derive returns the keys e's versions name: KEK versions
// min_decryption_version..current (a retired version is never derived
// again), derived-key root versions 1..derived_current, the audit seed and
// the credential MAC key.
func (e *Envelope) Derive(r *Root) (*Keys, error) {
	return deriveKeys(r, max(e.Min, 1), e.Current, max(e.DerivedCurrent, 1))
}

// ReadEnvelope reads an envelope file, refusing one that group or others
// may read.
func ReadEnvelope(path string) (*Envelope, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("root envelope: %w", err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("root envelope %s is accessible by group or others (mode %o): run chmod 600 %s", path, fi.Mode().Perm(), path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("root envelope: %w", err)
	}
	e, err := ParseEnvelope(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return e, nil
}

// WriteEnvelope writes e to path, mode 0600, atomically (temp file, fsync,
// rename, fsync of the directory). With create set it refuses to replace an
// existing file.
func WriteEnvelope(path string, e *Envelope, create bool) error {
	if err := e.check(); err != nil {
		return err
	}
	b, err := json.MarshalIndent(e, "", "  ")
	if err != nil {
		return err
	}
	if create {
		return writeAtomicNew(path, append(b, '\n'))
	}
	return writeAtomic(path, append(b, '\n'))
}

func writeAtomic(path string, b []byte) error { return writeTemp(path, b, os.Rename) }

// writeAtomicNew is writeAtomic that fails when path exists (a hard link
// does not replace its target).
func writeAtomicNew(path string, b []byte) error {
	return writeTemp(path, b, func(tmp, path string) error {
		if err := os.Link(tmp, path); err != nil {
			if errors.Is(err, os.ErrExist) {
				return fmt.Errorf("%s exists", path)
			}
			return err
		}
		return nil
	})
}

func writeTemp(path string, b []byte, place func(tmp, path string) error) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".keys-*.tmp")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return err
	}
	if err := errors.Join(tmp.Sync(), tmp.Close()); err != nil {
		return err
	}
	if err := place(tmp.Name(), path); err != nil {
		return err
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// Unwrapper errors: safe to show (they name no key material).
var (
	ErrWrongPassphrase  = &coffer.Error{Code: coffer.EUNAUTHENTICATED, Message: "wrong passphrase: the root key did not open"}
	ErrWrongCombination = &coffer.Error{Code: coffer.EUNAUTHENTICATED, Message: "wrong combination of shares: the root key did not open; unseal progress was reset"}
	ErrBusy             = &coffer.Error{Code: coffer.ERATELIMITED, Message: "another unseal attempt is being checked; try again"}
)
