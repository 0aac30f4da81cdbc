package seal

import (
	"crypto/hmac"
	"encoding/binary"
	"hash"
)

// Credential rows (API keys, operators, the schema document) are
// authenticated with keys derived from the root, so that someone who can
// write the database but does not hold the root can neither mint an API
// key nor raise a role: the row would not verify.

// APIKeyVerifier is what the store keeps of an API key's secret: an
// HMAC-SHA256 under a root-derived key, not a plain hash that anyone could
// compute for a secret of their choosing.
func (s *Sealer) APIKeyVerifier(secret []byte) []byte {
	return s.derivedKey("coffer/api-key-verifier/v1").mac(func(h hash.Hash) { h.Write(secret) })
}

// CredentialMAC authenticates one credential row of kind ("api_key",
// "operator", "schema") made of parts, each length-prefixed so no two rows
// encode alike.
func (s *Sealer) CredentialMAC(kind string, parts ...[]byte) []byte {
	return s.derivedKey("coffer/credential-mac/v1").mac(func(h hash.Hash) {
		var n [binary.MaxVarintLen64]byte
		for _, p := range append([][]byte{[]byte(kind)}, parts...) {
			h.Write(n[:binary.PutUvarint(n[:], uint64(len(p)))])
			h.Write(p)
		}
	})
}

// VerifyCredentialMAC checks mac in constant time.
func (s *Sealer) VerifyCredentialMAC(mac []byte, kind string, parts ...[]byte) bool {
	return hmac.Equal(mac, s.CredentialMAC(kind, parts...))
}
