package keyring

import (
	"fmt"
	"sync"
	"time"

	"github.com/cofferhq/coffer"
)

// UnsealTimeout is how long an unseal in progress waits for its next share
// before it forgets the shares it has.
const UnsealTimeout = 10 * time.Minute

// Progress is how far an unseal has come: Have of Need secret inputs.
type Progress struct{ Have, Need int }

// String is the "2/3" of POST /v1/sys/unseal.
func (p Progress) String() string { return fmt.Sprintf("%d/%d", p.Have, p.Need) }

// Unseal is the sealed server's state for providers that need secret input
// (passphrase: one input; shamir: one share per call until the
// threshold). It is safe for concurrent use: one input is checked at a
// time, and an input that arrives while another is being checked gets
// ErrBusy at once (so a flood of attempts holds one argon2id's memory, not
// one per request).
type Unseal struct {
	env *Envelope
	// Now is the clock (tests set it); nil means time.Now.
	Now func() time.Time

	busy   sync.Mutex // held while an input is checked
	mu     sync.Mutex // guards the fields below
	shares []*Share
	last   time.Time
}

// NewUnseal starts an unseal of e, which must be a passphrase or shamir
// envelope (file and pkcs11 need no input: call their Identity directly).
func NewUnseal(e *Envelope) (*Unseal, error) {
	if err := e.check(); err != nil {
		return nil, err
	}
	if e.Provider != ProviderPassphrase && e.Provider != ProviderShamir {
		return nil, fmt.Errorf("keyring: the %s provider needs no unseal input", e.Provider)
	}
	return &Unseal{env: e}, nil
}

func (u *Unseal) now() time.Time {
	if u.Now != nil {
		return u.Now()
	}
	return time.Now()
}

func (u *Unseal) need() int {
	if u.env.Provider == ProviderShamir {
		return u.env.Shamir.Threshold
	}
	return 1
}

// Progress reports the shares held (after forgetting stale ones).
func (u *Unseal) Progress() Progress {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.expire()
	return Progress{Have: len(u.shares), Need: u.need()}
}

// expire forgets the shares after UnsealTimeout without progress. u.mu held.
func (u *Unseal) expire() {
	if len(u.shares) > 0 && u.now().Sub(u.last) >= UnsealTimeout {
		u.reset()
	}
}

func (u *Unseal) reset() {
	for _, s := range u.shares {
		s.Destroy()
	}
	u.shares = nil
}

// Reset forgets every share given so far.
func (u *Unseal) Reset() {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.reset()
}

// Add takes one secret input: the passphrase, or one share's text. It
// returns the root once the input suffices (and forgets the shares), else
// the progress. A wrong passphrase is ErrWrongPassphrase; a wrong
// combination of shares is ErrWrongCombination and resets the progress; a
// malformed share, a share of another split or one already given is
// refused without changing the progress.
func (u *Unseal) Add(input []byte) (*Root, Progress, error) {
	if !u.busy.TryLock() {
		return nil, u.Progress(), ErrBusy
	}
	defer u.busy.Unlock()
	if u.env.Provider == ProviderPassphrase {
		r, err := (&Passphrase{Pass: input}).Unwrap(u.env)
		if err != nil {
			return nil, Progress{0, 1}, err
		}
		return r, Progress{1, 1}, nil
	}
	s, err := ParseShare(string(input))
	if err != nil {
		return nil, u.Progress(), err
	}
	if err := u.env.checkShare(s); err != nil {
		return nil, u.Progress(), err
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	u.expire()
	for _, h := range u.shares {
		if h.Index == s.Index {
			return nil, Progress{len(u.shares), u.need()}, &coffer.Error{Code: coffer.EINVALID, Message: fmt.Sprintf("share %d was already given", s.Index)}
		}
	}
	u.shares = append(u.shares, s)
	u.last = u.now()
	if len(u.shares) < u.need() {
		return nil, Progress{len(u.shares), u.need()}, nil
	}
	r, err := Shares(u.shares).Unwrap(u.env)
	u.reset()
	if err != nil { // ErrWrongCombination: the progress was reset
		return nil, Progress{0, u.need()}, err
	}
	return r, Progress{u.need(), u.need()}, nil
}
