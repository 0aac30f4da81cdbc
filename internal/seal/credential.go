package seal

import (
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
)

// Credential rows (API keys, operators, the schema document) are
// authenticated with keys derived from the root, so that someone who can
// write the database but does not hold the root can neither mint an API
// key nor raise a role: the row would not verify.

func (s *Sealer) derivedMAC(label string) []byte {
	key, err := hkdf.Key(sha256.New, s.index, nil, label, keySize)
	if err != nil {
		panic(err)
	}
	return key
}

// APIKeyVerifier is what the store keeps of an API key's secret: an
// HMAC-SHA256 under a root-derived key, not a plain hash that anyone could
// compute for a secret of their choosing.
func (s *Sealer) APIKeyVerifier(secret []byte) []byte {
	m := hmac.New(sha256.New, s.derivedMAC("coffer/api-key-verifier/v1"))
	m.Write(secret)
	return m.Sum(nil)
}

// CredentialMAC authenticates one credential row of kind ("api_key",
// "operator", "schema") made of parts, each length-prefixed so no two rows
// encode alike.
func (s *Sealer) CredentialMAC(kind string, parts ...[]byte) []byte {
	m := hmac.New(sha256.New, s.derivedMAC("coffer/credential-mac/v1"))
	var n [binary.MaxVarintLen64]byte
	for _, p := range append([][]byte{[]byte(kind)}, parts...) {
		m.Write(n[:binary.PutUvarint(n[:], uint64(len(p)))])
		m.Write(p)
	}
	return m.Sum(nil)
}

// VerifyCredentialMAC checks mac in constant time.
func (s *Sealer) VerifyCredentialMAC(mac []byte, kind string, parts ...[]byte) bool {
	return hmac.Equal(mac, s.CredentialMAC(kind, parts...))
}
