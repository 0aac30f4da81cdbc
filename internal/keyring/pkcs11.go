//go:build pkcs11

package keyring

// The pkcs11 provider: an AES-256 key that never leaves the HSM wraps the
// root with AES-GCM (CKM_AES_GCM) through github.com/ThalesGroup/crypto11.
// It needs cgo and the vendor's PKCS#11 module; CI tests it with Debian's
// SoftHSM2. The HSM protects the root at rest only: once unwrapped, the
// root (and every key derived from it) lives in this process's memory like
// with any other provider, and a memory dump of the running server reveals
// it.

import (
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"

	"github.com/ThalesGroup/crypto11"
)

// PKCS11 is a connection to a token and the label of the wrapping key. It
// is both a Recipient and an Identity.
type PKCS11 struct {
	ctx   *crypto11.Context
	label string
}

// PKCS11Config names the module, the token and the wrapping key. The PIN
// is a secret: read it from a file or the environment, never argv.
type PKCS11Config struct {
	Module     string // path to the vendor's PKCS#11 library
	TokenLabel string
	PIN        string
	KeyLabel   string // the AES key's CKA_LABEL (default "coffer-root")
}

var (
	_ Recipient = (*PKCS11)(nil)
	_ Identity  = (*PKCS11)(nil)
)

// OpenPKCS11 logs in to the token. Close it when done.
func OpenPKCS11(c PKCS11Config) (*PKCS11, error) {
	if c.KeyLabel == "" {
		c.KeyLabel = "coffer-root"
	}
	ctx, err := crypto11.Configure(&crypto11.Config{Path: c.Module, TokenLabel: c.TokenLabel, Pin: c.PIN, GCMIVLength: 12})
	if err != nil {
		return nil, fmt.Errorf("pkcs11: %w", err)
	}
	return &PKCS11{ctx: ctx, label: c.KeyLabel}, nil
}

// Close ends the session with the token.
func (p *PKCS11) Close() error { return p.ctx.Close() }

// CreateKey generates the wrapping key inside the token (CKA_SENSITIVE,
// not CKA_EXTRACTABLE, as crypto11 sets them). It refuses when a key with
// the label exists.
func (p *PKCS11) CreateKey() error {
	if ks, err := p.ctx.FindKeys(nil, []byte(p.label)); err != nil {
		return fmt.Errorf("pkcs11: %w", err)
	} else if len(ks) > 0 {
		return fmt.Errorf("pkcs11: a key labelled %q exists", p.label)
	}
	id := make([]byte, 16)
	rand.Read(id)
	if _, err := p.ctx.GenerateSecretKeyWithLabel(id, []byte(p.label), 256, crypto11.CipherAES); err != nil {
		return fmt.Errorf("pkcs11: generate the wrapping key: %w", err)
	}
	return nil
}

func (p *PKCS11) gcm() (cipher.AEAD, error) {
	ks, err := p.ctx.FindKeys(nil, []byte(p.label))
	if err != nil {
		return nil, fmt.Errorf("pkcs11: %w", err)
	}
	if len(ks) != 1 {
		return nil, fmt.Errorf("pkcs11: want one key labelled %q on the token, found %d", p.label, len(ks))
	}
	return ks[0].NewGCM()
}

// Wrap seals r under the HSM key.
func (p *PKCS11) Wrap(r *Root) (e *Envelope, err error) {
	if r.Destroyed() {
		return nil, errors.New("keyring: the root was destroyed")
	}
	g, err := p.gcm()
	if err != nil {
		return nil, err
	}
	e = newEnvelope(ProviderPKCS11)
	e.PKCS11 = &PKCS11Params{KeyLabel: p.label}
	e.Nonce = make([]byte, 12)
	rand.Read(e.Nonce)
	defer func() { // crypto11's Seal panics when the token fails
		if v := recover(); v != nil {
			e, err = nil, fmt.Errorf("pkcs11: wrap: %v", v)
		}
	}()
	e.Wrapped = g.Seal(nil, e.Nonce, r.b, e.aad())
	return e, nil
}

// Unwrap opens the root with the HSM key.
func (p *PKCS11) Unwrap(e *Envelope) (*Root, error) {
	if err := e.check(); err != nil {
		return nil, err
	}
	if e.Provider != ProviderPKCS11 || e.PKCS11.KeyLabel != p.label {
		return nil, errors.New("keyring: not a pkcs11 envelope for this key label")
	}
	g, err := p.gcm()
	if err != nil {
		return nil, err
	}
	b, err := g.Open(nil, e.Nonce, e.Wrapped, e.aad())
	if err != nil || len(b) != RootSize {
		clear(b)
		return nil, errors.New("pkcs11: the root did not open (another token or key, or an edited envelope)")
	}
	return &Root{b: b}, nil
}
