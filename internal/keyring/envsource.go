package keyring

import (
	"fmt"
	"slices"
	"sync"

	"github.com/cofferhq/coffer"
)

// EnvelopeSource is key rotation on a running server for the envelope
// providers (passphrase, shamir, pkcs11): the vault's KeySource. The
// versions (the current KEK version, the derived-key root's current
// version, min_decryption_version, the exported marks) are public metadata
// in the envelope file, outside its AEAD's additional data, so a rotation
// rewrites them (atomically, 0600) without the wrapping key. New versions
// derive from the root, so every method but Exported needs it: the source
// holds the root only between Open and the Destroy of the Lease Open
// returns, which the vault calls when it drops the keys (a seal, another
// unseal, Close). The pkcs11 provider keeps no root: each operation
// unwraps it from the HSM again and destroys it after.
type EnvelopeSource struct {
	path     string
	provider string
	hsm      *PKCS11Config // pkcs11 only

	mu    sync.Mutex // serialises the envelope's read-modify-writes and the lease
	lease *Lease     // nil while sealed
}

// A Lease is the source's hold on one unsealed root. Destroy zeroes the
// root and, unless a later Open replaced it, seals the source.
type Lease struct {
	src  *EnvelopeSource
	root *Root // nil for pkcs11
}

// NewEnvelopeSource returns the rotation source of an envelope provider,
// sealed (Open unseals it).
func NewEnvelopeSource(s Source) (*EnvelopeSource, error) {
	src := &EnvelopeSource{path: s.Envelope, provider: s.Provider}
	switch s.Provider {
	case ProviderPassphrase, ProviderShamir:
	case ProviderPKCS11:
		c := s.PKCS11
		src.hsm = &c
	default:
		return nil, fmt.Errorf("keys.provider %q has no root envelope", s.Provider)
	}
	return src, nil
}

var errSourceSealed = coffer.Errorf(coffer.ESEALED, "the root key is not available: the vault is sealed")

// Open takes r, a root unwrapped from this source's envelope (the source
// owns it from then on, also on error), and returns the keys the envelope
// names now and the lease that ends the source's hold on r.
func (s *EnvelopeSource) Open(r *Root) (*Keys, *Lease, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, err := s.read()
	if err != nil {
		r.Destroy()
		return nil, nil, err
	}
	k, err := e.Derive(r)
	if err != nil {
		r.Destroy()
		return nil, nil, err
	}
	l := &Lease{src: s, root: r}
	if s.hsm != nil {
		r.Destroy() // unwrapped again from the HSM when needed
		l.root = nil
	}
	s.lease = l
	return k, l, nil
}

// OpenHSM is Open with the root unwrapped by the HSM (pkcs11).
func (s *EnvelopeSource) OpenHSM() (*Keys, *Lease, error) {
	if s.hsm == nil {
		return nil, nil, fmt.Errorf("keyring: the %s provider does not open from an HSM", s.provider)
	}
	s.mu.Lock()
	e, err := s.read()
	s.mu.Unlock()
	if err != nil {
		return nil, nil, err
	}
	r, err := unwrapHSM(*s.hsm, e)
	if err != nil {
		return nil, nil, err
	}
	return s.Open(r)
}

// Destroy zeroes the leased root and seals the source, unless a later Open
// replaced the lease. It may be called more than once.
func (l *Lease) Destroy() {
	if l == nil {
		return
	}
	l.src.mu.Lock()
	defer l.src.mu.Unlock()
	if l.src.lease == l {
		l.src.lease = nil
	}
	l.root.Destroy()
}

func unwrapHSM(c PKCS11Config, e *Envelope) (*Root, error) {
	p, err := OpenPKCS11(c)
	if err != nil {
		return nil, err
	}
	defer p.Close()
	return p.Unwrap(e)
}

// read reads the envelope, refusing one of another provider. s.mu held.
func (s *EnvelopeSource) read() (*Envelope, error) {
	e, err := ReadEnvelope(s.path)
	if err != nil {
		return nil, err
	}
	if e.Provider != s.provider {
		return nil, fmt.Errorf("root envelope %s was made by the %s provider, not %s", s.path, e.Provider, s.provider)
	}
	return e, nil
}

// update runs fn with the envelope and the root, and writes the envelope
// back when fn changed it; it returns the keys the envelope then names.
// ESEALED while no lease holds the root.
func (s *EnvelopeSource) update(fn func(e *Envelope, k *Keys) (changed bool, err error)) (*Keys, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.lease == nil {
		return nil, errSourceSealed
	}
	e, err := s.read()
	if err != nil {
		return nil, err
	}
	r := s.lease.root
	if s.hsm != nil {
		if r, err = unwrapHSM(*s.hsm, e); err != nil {
			return nil, err
		}
		defer r.Destroy()
	}
	k, err := e.Derive(r)
	if err != nil {
		return nil, err
	}
	changed, err := fn(e, k)
	if err != nil || !changed {
		return k, err
	}
	if err := WriteEnvelope(s.path, e, false); err != nil {
		return nil, err
	}
	return e.Derive(r)
}

// Keys returns the keys the envelope names now.
func (s *EnvelopeSource) Keys() (*coffer.RootKeys, error) {
	k, err := s.update(func(*Envelope, *Keys) (bool, error) { return false, nil })
	if err != nil {
		return nil, err
	}
	return k.Root, nil
}

// NewVersion adds a KEK version, makes it current and returns the keys.
func (s *EnvelopeSource) NewVersion() (*coffer.RootKeys, error) {
	k, err := s.update(func(e *Envelope, _ *Keys) (bool, error) {
		if e.Current >= 1<<16 {
			return false, coffer.Errorf(coffer.ECONFLICT, "the KEK has 65536 versions already")
		}
		e.Current++
		return true, nil
	})
	if err != nil {
		return nil, err
	}
	return k.Root, nil
}

// NewDerivedVersion adds a derived-key root version, makes it current and
// returns the keys. Derived versions are never removed.
func (s *EnvelopeSource) NewDerivedVersion() (*coffer.RootKeys, error) {
	k, err := s.update(func(e *Envelope, _ *Keys) (bool, error) {
		next := max(e.DerivedCurrent, 1) + 1
		if next > 1<<16 {
			return false, coffer.Errorf(coffer.ECONFLICT, "the derived-key root has 65536 versions already")
		}
		e.DerivedCurrent = next
		return true, nil
	})
	if err != nil {
		return nil, err
	}
	return k.Root, nil
}

// Retire removes KEK version (min_decryption_version): only the lowest
// version still held may go, never the current one. It returns the keys
// left.
func (s *EnvelopeSource) Retire(version uint32) (*coffer.RootKeys, error) {
	k, err := s.update(func(e *Envelope, k *Keys) (bool, error) {
		if _, ok := k.Root.KEKs[version]; !ok {
			return false, coffer.Errorf(coffer.ENOTFOUND, "KEK version %d is not held", version)
		}
		if version == e.Current {
			return false, coffer.Errorf(coffer.ECONFLICT, "KEK version %d is the current version: rotate first", version)
		}
		if low := max(e.Min, 1); low < version {
			return false, coffer.Errorf(coffer.ECONFLICT, "retire KEK version %d first (versions retire oldest first)", low)
		}
		e.Min = version + 1
		return true, nil
	})
	if err != nil {
		return nil, err
	}
	return k.Root, nil
}

// Export returns KEK version encrypted to an age recipient (ExportKEK) and
// records the export in the envelope.
func (s *EnvelopeSource) Export(version uint32, recipient string) ([]byte, error) {
	var out []byte
	_, err := s.update(func(e *Envelope, k *Keys) (bool, error) {
		var err error
		if out, err = ExportKEK(k.Root, version, recipient); err != nil {
			return false, err
		}
		if slices.Contains(e.Exported, version) {
			return false, nil
		}
		e.Exported = append(e.Exported, version)
		slices.Sort(e.Exported)
		return true, nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Exported reports whether version was exported (it needs no root).
func (s *EnvelopeSource) Exported(version uint32) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, err := s.read()
	if err != nil {
		return false, err
	}
	return slices.Contains(e.Exported, version), nil
}
