// Package backup is Coffer's backup file format: a copy of the store,
// encrypted with age to X25519 recipients, ending in a manifest signed
// with the audit signing key. The copy is a page image of the database
// (SQLite: its pages as one read transaction sees them, the copy SQLite's
// online backup makes) or a logical copy, table by table and row by row
// (PostgreSQL).
//
// Inside the age envelope the payload is
//
//	magic "COFFER-BACKUP\n" | format (uvarint) | frame* | manifest frame | signature frame
//
// where a frame is kind (one byte) | length (uvarint) | bytes. A table frame
// names a table and its columns; row frames follow it. An image frame
// (format 2) gives the page size and count; data frames follow it with the
// pages' bytes, and a restore writes them to a file that is then the
// database. The manifest (JSON)
// carries the format version, creation time, Coffer version, the audit
// head at the snapshot, row counts per table (for an image, the counts the
// snapshot read, which a restore checks on the image), the image's size,
// and the SHA-256 of everything
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
