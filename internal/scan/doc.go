// Package scan reads files, directories, standard input, SQLite files and
// PostgreSQL databases, runs the detectors of package pii over them and
// writes reports as text, JSON or SARIF 2.1.0.
//
// Files stream through a fixed pool of chunk buffers to parallel workers,
// so memory stays bounded whatever the input size: a chunk ends at a line
// boundary and carries the number of its first line. Directory walks go
// through os.Root and never leave the named directory, even by a symlink.
//
// Nothing here keeps or prints a found value: a finding holds a masked
// sample (pii.Mask) and where it was.
package scan
