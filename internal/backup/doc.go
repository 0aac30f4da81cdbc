// Package backup is Coffer's backup file format: a logical copy of the
// store, table by table and row by row, encrypted with age to X25519
// recipients, ending in a manifest signed with the audit signing key.
//
// Inside the age envelope the payload is
//
//	magic "COFFER-BACKUP\n" | format (uvarint) | frame* | manifest frame | signature frame
//
// where a frame is kind (one byte) | length (uvarint) | bytes. A table frame
// names a table and its columns; row frames follow it. The manifest (JSON)
// carries the format version, creation time, Coffer version, the audit
// head at the snapshot, row counts per table and the SHA-256 of everything
// before it; the signature is Ed25519 over the manifest under the audit
// key. age authenticates every 64 KiB chunk and the end of the stream, so a
// flipped byte or a truncation fails to decrypt; someone who holds only the
// recipient can encrypt a backup of their own but cannot sign its manifest.
//
// Values stay as the store holds them: field values are ciphertext and
// DEKs are wrapped. The payload nevertheless holds the audit log, consent
// and request histories, password hashes and API-key verifiers, which is
// why it is encrypted as a whole.
package backup
