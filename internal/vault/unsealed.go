package vault

import (
	"strings"
	"sync"
	"sync/atomic"

	"github.com/cofferhq/coffer/internal/fpe"
	"github.com/cofferhq/coffer/internal/seal"
)

// unsealed is every secret that exists only while the vault is unsealed.
// The vault holds it behind one atomic pointer, so sealing is one store of
// nil and no cache of key material can be forgotten: add new key caches
// here, never beside it.
type unsealed struct {
	sealer    *seal.Sealer
	deks      *seal.DEKCache // subject id → unwrapped DEK
	tokenKeys sync.Map       // token namespace → *seal.DEK
	fpe       fpeCache
	// held is what the key source holds for as long as these keys (an
	// envelope provider's root, which rotation derives new versions
	// from); nil for most sources. drop destroys it.
	held Holder

	// refs counts the calls using the keys; sealingBit is set once
	// sealing starts, after which no call may start using them.
	refs    atomic.Int64
	drained chan struct{} // closed when refs falls to zero after sealing
}

const sealingBit = 1 << 62

// dekCacheSize bounds the cached subject DEKs.
const dekCacheSize = 100_000

func newUnsealed(s *seal.Sealer) *unsealed {
	return &unsealed{sealer: s, deks: seal.NewDEKCache(dekCacheSize), fpe: fpeCache{m: map[string]fpe.Cipher{}},
		drained: make(chan struct{})}
}

// acquire counts a call in; false once sealing has started.
func (u *unsealed) acquire() bool {
	for {
		n := u.refs.Load()
		if n&sealingBit != 0 {
			return false
		}
		if u.refs.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

// release counts a call out.
func (u *unsealed) release() {
	if u.refs.Add(-1) == sealingBit {
		close(u.drained) // the last call out after sealing started
	}
}

// drop waits for the calls in flight, then forgets every key and zeroes
// the key bytes Go lets us reach: the index root key, the caches and what
// the key source held with them (an envelope provider's root). The
// AES key schedules inside crypto/aes and crypto/cipher values (KEKs,
// DEKs, FPE ciphers) and HMAC states are out of reach: they are dropped
// and left to the garbage collector.
func (u *unsealed) drop() {
	if u.refs.Or(sealingBit) != 0 {
		<-u.drained
	}
	u.sealer.Wipe()
	u.deks.Clear()
	u.tokenKeys.Clear()
	u.fpe.clear()
	if u.held != nil {
		u.held.Destroy()
	}
}

// maxFPECiphers bounds the FPE cipher cache: key names come from callers.
const maxFPECiphers = 256

// fpeCache holds built FPE ciphers by key name, version, derived-key root
// version, algorithm and alphabet
// (FF1's tables cost ~20 µs to build, an encryption under 1 µs). When full
// it starts again empty.
type fpeCache struct {
	mu sync.Mutex
	m  map[string]fpe.Cipher
}

func (c *fpeCache) get(id string) fpe.Cipher {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.m[id]
}

func (c *fpeCache) put(id string, ciph fpe.Cipher) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= maxFPECiphers {
		clear(c.m)
	}
	c.m[id] = ciph
}

// dropName forgets the ciphers of one key name (a rotation of it).
func (c *fpeCache) dropName(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for id := range c.m {
		if strings.HasPrefix(id, name+"|") {
			delete(c.m, id)
		}
	}
}

func (c *fpeCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.m)
}

func (c *fpeCache) clear() {
	c.mu.Lock()
	defer c.mu.Unlock()
	clear(c.m)
}
