package identity

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"crypto/subtle"
	_ "embed"
	"encoding/base64"
	"fmt"
	"strings"
	"sync"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"
	"golang.org/x/text/unicode/norm"

	"github.com/cofferhq/coffer"
)

// Password length bounds, in Unicode code points (NIST SP 800-63B-4: at
// least 15 for single-factor, at least 8 with MFA; we ask 12 and allow far
// more than the 64 it requires to be accepted).
const (
	MinPassword = 12
	MaxPassword = 256
)

//go:embed blocklist.txt.gz
var blocklistGz []byte

var (
	blockOnce sync.Once
	blocked   map[string]struct{}
)

func blocklist() map[string]struct{} {
	blockOnce.Do(func() {
		zr, err := gzip.NewReader(bytes.NewReader(blocklistGz))
		if err != nil {
			panic("identity: embedded blocklist: " + err.Error())
		}
		blocked = make(map[string]struct{}, 50_000)
		sc := bufio.NewScanner(zr)
		for sc.Scan() {
			blocked[sc.Text()] = struct{}{}
		}
	})
	return blocked
}

// BlocklistSize is the number of blocked passwords.
func BlocklistSize() int { return len(blocklist()) }

func weak(msg string) error {
	return &coffer.Error{Code: coffer.EINVALID, Message: "password: " + msg}
}

// CheckPassword applies NIST SP 800-63B-4 §3.1.1.2: a length between
// MinPassword and MaxPassword code points, every Unicode character allowed,
// no composition rules, and a refusal of passwords that are common,
// breached or derived from the context (the username, the service name,
// one repeated character). Messages never repeat the password.
func CheckPassword(password, username string) error {
	if !utf8.ValidString(password) {
		return weak("must be valid UTF-8")
	}
	p := norm.NFKC.String(password)
	n := utf8.RuneCountInString(p)
	switch {
	case n < MinPassword:
		return weak(fmt.Sprintf("at least %d characters", MinPassword))
	case n > MaxPassword:
		return weak(fmt.Sprintf("at most %d characters", MaxPassword))
	}
	low := strings.ToLower(p)
	if _, ok := blocklist()[low]; ok {
		return weak("it is on the list of common or breached passwords; choose another")
	}
	// Common passwords with a suffix of digits or symbols ("password2024!").
	if trimmed := strings.TrimRightFunc(low, func(r rune) bool { return r < 128 && !('a' <= r && r <= 'z') }); trimmed != low && len(trimmed) >= 4 {
		if _, ok := blocklist()[trimmed]; ok {
			return weak("it is a common password with characters added; choose another")
		}
	}
	if first, _ := utf8.DecodeRuneInString(p); strings.Count(p, string(first)) == n {
		return weak("one character repeated")
	}
	for _, w := range []string{strings.ToLower(username), "coffer"} {
		if len(w) >= 4 && strings.Contains(low, w) {
			return weak("it must not contain the username or the service name")
		}
	}
	return nil
}

// argon2id parameters: 64 MiB, 3 passes, 2 lanes (RFC 9106's second
// recommended option), 16-byte salt, 32-byte hash.
const (
	argonMemory  = 64 * 1024
	argonTime    = 3
	argonThreads = 2
)

// Hasher hashes passwords with argon2id, at most Concurrency at a time, so
// that a burst of logins cannot exhaust memory (each hash takes 64 MiB).
type Hasher struct{ sem chan struct{} }

// NewHasher bounds concurrent hashes to n (at least 1).
func NewHasher(n int) *Hasher { return &Hasher{sem: make(chan struct{}, max(n, 1))} }

func (h *Hasher) acquire(ctx context.Context) error {
	select {
	case h.sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Hash returns a PHC string: $argon2id$v=19$m=65536,t=3,p=2$salt$hash.
func (h *Hasher) Hash(ctx context.Context, password string) (string, error) {
	if err := h.acquire(ctx); err != nil {
		return "", err
	}
	defer func() { <-h.sem }()
	salt := make([]byte, 16)
	rand.Read(salt)
	sum := argon2.IDKey([]byte(norm.NFKC.String(password)), salt, argonTime, argonMemory, argonThreads, 32)
	enc := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, argonMemory, argonTime, argonThreads,
		enc.EncodeToString(salt), enc.EncodeToString(sum)), nil
}

// Verify reports whether password matches a PHC string made by Hash.
func (h *Hasher) Verify(ctx context.Context, password, phc string) (bool, error) {
	parts := strings.Split(phc, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false, fmt.Errorf("identity: not an argon2id hash")
	}
	var version, m, t int
	var p uint8
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return false, fmt.Errorf("identity: unsupported argon2 version")
	}
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &m, &t, &p); err != nil || m < 8*1024 || m > 1<<20 || t < 1 || t > 16 || p < 1 {
		return false, fmt.Errorf("identity: bad argon2 parameters")
	}
	enc := base64.RawStdEncoding
	salt, err1 := enc.DecodeString(parts[4])
	want, err2 := enc.DecodeString(parts[5])
	if err1 != nil || err2 != nil || len(want) < 16 {
		return false, fmt.Errorf("identity: malformed hash")
	}
	if err := h.acquire(ctx); err != nil {
		return false, err
	}
	defer func() { <-h.sem }()
	got := argon2.IDKey([]byte(norm.NFKC.String(password)), salt, uint32(t), uint32(m), p, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}
