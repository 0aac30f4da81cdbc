package vault

import "github.com/cofferhq/coffer"

// Test hooks into the unsealed key material (the idiom of an
// export_test.go: compiled only into this package's tests).

// CachedDEK reports whether a subject's DEK is in the vault's cache.
func CachedDEK(v *Vault, subject string) bool {
	u := v.core.keys.Load()
	return u != nil && u.deks.Get(subject) != nil
}

// FPECiphers counts the FPE ciphers built and kept.
func FPECiphers(v *Vault) int {
	u := v.core.keys.Load()
	if u == nil {
		return 0
	}
	return u.fpe.len()
}

// Keys returns a handle on the current key material, which stays
// readable after a Seal (to check that sealing emptied it).
func Keys(v *Vault) *KeysHandle { return &KeysHandle{u: v.core.keys.Load()} }

// KeysHandle looks into one unsealed value.
type KeysHandle struct{ u *unsealed }

// DEK reports whether a subject's DEK is cached.
func (k *KeysHandle) DEK(subject string) bool { return k.u.deks.Get(subject) != nil }

// TokenKeys counts the cached token-namespace keys.
func (k *KeysHandle) TokenKeys() int {
	n := 0
	k.u.tokenKeys.Range(func(any, any) bool { n++; return true })
	return n
}

// FPECiphers counts the cached FPE ciphers.
func (k *KeysHandle) FPECiphers() int { return k.u.fpe.len() }

// SignAPIKeyRow sets k.MAC to the MAC this vault computes over the row, as
// a row written by a buggy or older release would carry (the credential
// migration signs the rows it finds): a test can then reach the checks
// behind the MAC.
func SignAPIKeyRow(v *Vault, k *coffer.APIKey) { k.MAC = apiKeyMAC(v.core.keys.Load().sealer, k) }
