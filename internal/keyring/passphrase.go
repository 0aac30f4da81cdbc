package keyring

import (
	"crypto/rand"
	"errors"

	"golang.org/x/crypto/argon2"
)

// Argon2Params are the argon2id parameters stored in a passphrase
// envelope. The defaults (DefaultArgon2) are time=3, memory=64 MiB,
// threads=2: RFC 9106's second recommended option (64 MiB) with one more
// pass. One unseal took 0.21 s on the shared 2-core build machine
// (TestDefaultArgon2Time logs it): short for an operator, slow for a
// guesser, and since Unseal checks one input at a time a flood of attempts
// holds 64 MiB, not 64 MiB per request. The parameters are stored, so a
// later envelope may raise them; Unwrap refuses stored values beyond 16
// passes or 1 GiB.
type Argon2Params struct {
	Time      uint32 `json:"time"`
	MemoryKiB uint32 `json:"memory_kib"`
	Threads   uint8  `json:"threads"`
	Salt      []byte `json:"salt"` // 16 random bytes
}

// DefaultArgon2 returns the default parameters with a fresh salt.
func DefaultArgon2() Argon2Params {
	salt := make([]byte, 16)
	rand.Read(salt)
	return Argon2Params{Time: 3, MemoryKiB: 64 * 1024, Threads: 2, Salt: salt}
}

// Limits on stored parameters, so an edited envelope cannot make an unseal
// attempt take minutes or gigabytes.
const (
	maxArgon2Time   = 16
	maxArgon2Memory = 1024 * 1024 // KiB: 1 GiB
	minArgon2Memory = 8 * 1024    // KiB: 8 MiB
)

func (p *Argon2Params) check() error {
	if p.Time == 0 || p.Time > maxArgon2Time || p.MemoryKiB < minArgon2Memory || p.MemoryKiB > maxArgon2Memory ||
		p.Threads == 0 || p.Threads > 16 || len(p.Salt) != 16 {
		return errors.New("keyring: root envelope: argon2id parameters out of range (time 1–16, memory 8 MiB–1 GiB, threads 1–16, 16-byte salt)")
	}
	return nil
}

func (p *Argon2Params) key(pass []byte) []byte {
	return argon2.IDKey(pass, p.Salt, p.Time, p.MemoryKiB, p.Threads, 32)
}

// Passphrase wraps and unwraps a root under a key derived from a
// passphrase with argon2id. It is both a Recipient and an Identity.
type Passphrase struct {
	Pass   []byte
	Params *Argon2Params // nil: DefaultArgon2 (Wrap only; Unwrap uses the envelope's)
}

var (
	_ Recipient = (*Passphrase)(nil)
	_ Identity  = (*Passphrase)(nil)
)

// Wrap seals r under the passphrase.
func (p *Passphrase) Wrap(r *Root) (*Envelope, error) {
	if len(p.Pass) == 0 {
		return nil, errors.New("keyring: the passphrase is empty")
	}
	params := DefaultArgon2()
	if p.Params != nil {
		params = *p.Params
	}
	if err := params.check(); err != nil {
		return nil, err
	}
	e := newEnvelope(ProviderPassphrase)
	e.Argon2id = &params
	k := params.key(p.Pass)
	defer clear(k)
	if err := e.seal(k, r); err != nil {
		return nil, err
	}
	return e, nil
}

// Unwrap opens the root; ErrWrongPassphrase when the passphrase is wrong
// (the GCM tag does not verify) or the envelope was edited.
func (p *Passphrase) Unwrap(e *Envelope) (*Root, error) {
	if err := e.check(); err != nil {
		return nil, err
	}
	if e.Provider != ProviderPassphrase {
		return nil, errors.New("keyring: not a passphrase envelope")
	}
	k := e.Argon2id.key(p.Pass)
	defer clear(k)
	r, err := e.open(k)
	if err != nil {
		return nil, ErrWrongPassphrase
	}
	return r, nil
}
