package keyring

import (
	"crypto/ed25519"
	"errors"
	"fmt"
)

// Source names where the server's root comes from (keys.* in coffer.yaml).
type Source struct {
	Provider string       // file (default), passphrase, shamir, pkcs11
	File     string       // file: the key file (keys.json)
	Envelope string       // passphrase, shamir, pkcs11: the root envelope (root.json)
	PKCS11   PKCS11Config // pkcs11
}

// Start opens the source at server start. Providers that need no input
// (file, pkcs11) return the keys; passphrase and shamir return an Unseal:
// the server starts sealed, feeds it POST /v1/sys/unseal's inputs, and
// once Add returns a root derives the keys the envelope names (Unseal's
// Derive, or EnvelopeSource.Open to rotate while serving).
func Start(s Source) (*Keys, *Unseal, error) {
	switch s.Provider {
	case "", ProviderFile:
		k, err := (&File{Path: s.File}).Material()
		return k, nil, err
	case ProviderPassphrase, ProviderShamir, ProviderPKCS11:
	default:
		return nil, nil, fmt.Errorf("keys.provider %q: want file, passphrase, shamir or pkcs11", s.Provider)
	}
	e, err := ReadEnvelope(s.Envelope)
	if err != nil {
		return nil, nil, err
	}
	if e.Provider != s.Provider {
		return nil, nil, fmt.Errorf("root envelope %s was made by the %s provider, not %s", s.Envelope, e.Provider, s.Provider)
	}
	if s.Provider != ProviderPKCS11 {
		u, err := NewUnseal(e)
		return nil, u, err
	}
	p, err := OpenPKCS11(s.PKCS11)
	if err != nil {
		return nil, nil, err
	}
	defer p.Close()
	r, err := p.Unwrap(e)
	if err != nil {
		return nil, nil, err
	}
	defer r.Destroy()
	k, err := e.Derive(r)
	return k, nil, err
}

// Current is the envelope's current KEK version.
func (u *Unseal) Current() uint32 { return u.env.Current }

// Derive returns the keys the envelope names (Envelope.Derive) from the
// root Add returned.
func (u *Unseal) Derive(r *Root) (*Keys, error) { return u.env.Derive(r) }

// AuditPublicKey is the audit signer's public key (safe to publish).
func (k *Keys) AuditPublicKey() (ed25519.PublicKey, error) {
	if k.AuditSeed.Len() != ed25519.SeedSize {
		return nil, errors.New("keyring: no audit seed")
	}
	seed := k.AuditSeed.Bytes()
	defer clear(seed)
	priv := ed25519.NewKeyFromSeed(seed)
	defer clear(priv)
	return priv.Public().(ed25519.PublicKey), nil
}
