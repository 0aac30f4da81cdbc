package audit

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"
)

// The audit public keys are written beside the configuration, one line per
// key version ("coffer-audit-key v1 <base64>"), so that verification
// needs no unseal; a rotation adds a line and keeps the old ones.

// WriteKeyFile adds pub as version to the key file at path (creating it),
// unless it is there already. A different key for the same version is an
// error: the file is not overwritten.
func WriteKeyFile(path string, version uint32, pub ed25519.PublicKey) error {
	keys, err := ReadKeyFile(path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if old, ok := keys[version]; ok {
		if !old.Equal(pub) {
			return fmt.Errorf("%s: holds another public key for audit key version %d", path, version)
		}
		return nil
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(f, "coffer-audit-key v%d %s\n", version, base64.StdEncoding.EncodeToString(pub))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// ReadKeyFile reads the public keys by version.
func ReadKeyFile(path string) (map[uint32]ed25519.PublicKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	keys := map[uint32]ed25519.PublicKey{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for n := 1; sc.Scan(); n++ {
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			continue
		}
		v, err1 := strconv.ParseUint(strings.TrimPrefix(f[min(1, len(f)-1)], "v"), 10, 32)
		pub, err2 := base64.StdEncoding.DecodeString(f[len(f)-1])
		if len(f) != 3 || f[0] != "coffer-audit-key" || err1 != nil || err2 != nil || len(pub) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("%s line %d: not a coffer-audit-key line", path, n)
		}
		keys[uint32(v)] = pub
	}
	return keys, nil
}
