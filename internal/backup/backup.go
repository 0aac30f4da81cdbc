package backup

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"time"

	"filippo.io/age"
)

// Manifest describes a backup. It is signed with the audit signing key.
type Manifest struct {
	Format        int              `json:"format"`
	Created       time.Time        `json:"created"`
	CofferVersion string           `json:"coffer_version"`
	Store         string           `json:"store"`
	AuditSeq      int64            `json:"audit_seq"`
	AuditHash     []byte           `json:"audit_hash"`
	Tables        map[string]int64 `json:"tables"`
	PayloadSHA256 []byte           `json:"payload_sha256"`
	KeyVersion    uint32           `json:"key_version"`
	// Image is set when the payload is a page image of the database
	// (SQLite) rather than table and row frames; Tables then holds the
	// counts the snapshot read, which a restore checks on the image.
	Image *ImageInfo `json:"image,omitempty"`
}

// ImageInfo describes a page image: the database file, page after page,
// as one read transaction saw it.
type ImageInfo struct {
	PageSize int   `json:"page_size"`
	Pages    int64 `json:"pages"`
}

// Bytes is the image's length.
func (i ImageInfo) Bytes() int64 { return int64(i.PageSize) * i.Pages }

// maxImage bounds an image a reader accepts (SQLite's own limit is far
// above; this is 16 TiB), so a corrupt header cannot promise more.
const maxImage = 16 << 40

func (i ImageInfo) valid() bool {
	return i.PageSize >= 512 && i.PageSize <= 65536 && i.PageSize&(i.PageSize-1) == 0 &&
		i.Pages > 0 && i.Pages <= maxImage/int64(i.PageSize)
}

// Signer signs manifests (the audit signing key, see audit.Signer).
type Signer interface {
	SignManifest(manifest []byte) []byte
	Version() uint32
}

// VerifyFunc reports whether sig is the audit key of version's signature
// over manifest.
type VerifyFunc func(version uint32, manifest, sig []byte) bool

// Writer writes one backup.
type Writer struct {
	enc     io.WriteCloser
	out     *bufio.Writer
	sum     hash.Hash
	buf     []byte
	table   string
	columns int
	counts  map[string]int64
	image   *ImageInfo
	written int64 // image bytes so far
}

// NewWriter starts a backup on dst, encrypted to recipients.
func NewWriter(dst io.Writer, recipients ...age.Recipient) (*Writer, error) {
	if len(recipients) == 0 {
		return nil, errors.New("backup: at least one recipient is required")
	}
	enc, err := age.Encrypt(dst, recipients...)
	if err != nil {
		return nil, fmt.Errorf("backup: %w", err)
	}
	w := &Writer{enc: enc, out: bufio.NewWriterSize(enc, 64<<10), sum: sha256.New(), counts: map[string]int64{}}
	hdr := binary.AppendUvarint([]byte(magic), Format)
	if err := w.write(hdr); err != nil {
		return nil, err
	}
	return w, nil
}

func (w *Writer) write(b []byte) error {
	w.sum.Write(b)
	_, err := w.out.Write(b)
	return err
}

func (w *Writer) frame(kind byte, payload []byte) error {
	if len(payload) > maxFrame {
		return fmt.Errorf("backup: a %c frame of %d bytes is over the %d limit", kind, len(payload), maxFrame)
	}
	hdr := binary.AppendUvarint([]byte{kind}, uint64(len(payload)))
	if err := w.write(hdr); err != nil {
		return err
	}
	return w.write(payload)
}

// Table starts a table; the rows that follow belong to it. A table is
// written once.
func (w *Writer) Table(name string, columns ...string) error {
	if w.image != nil {
		return errors.New("backup: a table after an image")
	}
	if _, dup := w.counts[name]; dup {
		return fmt.Errorf("backup: table %s written twice", name)
	}
	b := appendString(nil, name)
	b = binary.AppendUvarint(b, uint64(len(columns)))
	for _, c := range columns {
		b = appendString(b, c)
	}
	w.table, w.columns, w.counts[name] = name, len(columns), 0
	return w.frame(kindTable, b)
}

// Row writes one row of the current table.
func (w *Writer) Row(values ...any) error {
	if w.table == "" {
		return errors.New("backup: a row before any table")
	}
	if len(values) != w.columns {
		return fmt.Errorf("backup: table %s: %d values for %d columns", w.table, len(values), w.columns)
	}
	b := w.buf[:0]
	var err error
	for _, v := range values {
		if b, err = appendValue(b, v); err != nil {
			return err
		}
	}
	w.buf = b
	w.counts[w.table]++
	return w.frame(kindRow, b)
}

// Image starts a page image of pages pages of pageSize bytes; Data writes
// its bytes. counts are the row counts per table the snapshot holds (the
// manifest carries them). A backup holds an image or tables, not both.
func (w *Writer) Image(pageSize int, pages int64, counts map[string]int64) error {
	info := ImageInfo{PageSize: pageSize, Pages: pages}
	if w.image != nil || len(w.counts) > 0 {
		return errors.New("backup: an image must be the whole payload")
	}
	if !info.valid() {
		return fmt.Errorf("backup: an image of %d pages of %d bytes", info.Pages, info.PageSize)
	}
	w.image, w.counts = &info, counts
	b := binary.AppendUvarint(nil, uint64(info.PageSize))
	return w.frame(kindImage, binary.AppendUvarint(b, uint64(info.Pages)))
}

// Data writes the next bytes of the image.
func (w *Writer) Data(b []byte) error {
	if w.image == nil {
		return errors.New("backup: image data before the image")
	}
	if w.written += int64(len(b)); w.written > w.image.Bytes() {
		return fmt.Errorf("backup: more image data than %d pages", w.image.Pages)
	}
	return w.frame(kindData, b)
}

// Finish completes m (format, counts, payload hash, key version), signs it,
// writes it and closes the encryption. It does not close dst. It returns
// the manifest as written.
func (w *Writer) Finish(m Manifest, s Signer) (Manifest, error) {
	if w.image != nil && w.written != w.image.Bytes() {
		return m, fmt.Errorf("backup: the image holds %d of its %d bytes", w.written, w.image.Bytes())
	}
	m.Format, m.Tables, m.PayloadSHA256, m.KeyVersion, m.Image = Format, w.counts, w.sum.Sum(nil), s.Version(), w.image
	doc, err := json.Marshal(m)
	if err != nil {
		return m, err
	}
	if err := w.frame(kindManifest, doc); err != nil {
		return m, err
	}
	if err := w.frame(kindSignature, s.SignManifest(doc)); err != nil {
		return m, err
	}
	if err := w.out.Flush(); err != nil {
		return m, err
	}
	return m, w.enc.Close()
}

// Item is what Reader.Next returns: the start of a table (Row nil), a
// row, the start of an image (Image set) or the image's next bytes (Data
// set; valid until the next call).
type Item struct {
	Table   string
	Columns []string
	Row     []any
	Image   *ImageInfo
	Data    []byte
}

// Reader reads and checks one backup. Everything it hands out before Next
// returns io.EOF is unverified until then: a restore writes into a store it
// discards unless the whole file checks out.
type Reader struct {
	in       *bufio.Reader
	sum      hash.Hash
	verify   VerifyFunc
	format   uint64
	table    string
	columns  []string
	counts   map[string]int64
	image    *ImageInfo
	read     int64  // image bytes so far
	buf      []byte // the last data frame
	manifest *Manifest
}

// NewReader decrypts src with identities and reads the header. Errors wrap
// ErrUnreadable (wrong identity, not a backup, a newer format) or
// ErrCorrupt.
func NewReader(src io.Reader, verify VerifyFunc, identities ...age.Identity) (*Reader, error) {
	dec, err := age.Decrypt(src, identities...)
	if err != nil {
		var noMatch *age.NoIdentityMatchError
		if errors.As(err, &noMatch) {
			return nil, unreadable("no identity given matches the backup's recipients (wrong --identity?)")
		}
		return nil, unreadable("not an age-encrypted Coffer backup (%v)", err)
	}
	r := &Reader{in: bufio.NewReaderSize(dec, 64<<10), sum: sha256.New(), verify: verify, counts: map[string]int64{}}
	head := make([]byte, len(magic))
	if _, err := io.ReadFull(r.in, head); err != nil {
		// age ends a plaintext only after authenticating its last chunk:
		// an EOF here is a short, genuine plaintext; anything else is a
		// chunk that does not decrypt (a small backup is one chunk).
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, unreadable("not a Coffer backup")
		}
		return nil, corrupt("decryption failed: the file was modified or truncated (%v)", err)
	}
	if string(head) != magic {
		return nil, unreadable("not a Coffer backup")
	}
	r.sum.Write(head)
	format, err := binary.ReadUvarint(r.in)
	if err != nil {
		return nil, unreadable("not a Coffer backup")
	}
	if format > Format || format == 0 {
		return nil, unreadable("backup format %d was written by a newer Coffer (this one reads up to %d): upgrade coffer", format, Format)
	}
	r.sum.Write(binary.AppendUvarint(nil, format))
	r.format = format
	return r, nil
}

func (r *Reader) frame() (byte, []byte, error) {
	kind, err := r.in.ReadByte()
	if err != nil {
		return 0, nil, r.readErr(err)
	}
	n, err := binary.ReadUvarint(r.in)
	if err != nil {
		return 0, nil, r.readErr(err)
	}
	if n > maxFrame {
		return 0, nil, corrupt("a frame of %d bytes", n)
	}
	var b []byte
	if kind == kindData { // the bulk of an image: one buffer
		if cap(r.buf) < int(n) {
			r.buf = make([]byte, n)
		}
		b = r.buf[:n]
	} else {
		b = make([]byte, n)
	}
	if _, err := io.ReadFull(r.in, b); err != nil {
		return 0, nil, r.readErr(err)
	}
	if kind != kindManifest && kind != kindSignature {
		r.sum.Write([]byte{kind})
		r.sum.Write(binary.AppendUvarint(nil, n))
		r.sum.Write(b)
	}
	return kind, b, nil
}

func (r *Reader) readErr(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return corrupt("the backup ends early (truncated)")
	}
	return corrupt("decryption failed: the file was modified or truncated (%v)", err)
}

// Next returns the next table start or row. After the last row it checks
// the manifest (hash, counts, signature) and returns io.EOF, or an error
// wrapping ErrCorrupt.
func (r *Reader) Next() (Item, error) {
	if r.manifest != nil {
		return Item{}, io.EOF
	}
	kind, b, err := r.frame()
	if err != nil {
		return Item{}, err
	}
	switch kind {
	case kindImage:
		if r.format < 2 || r.image != nil || len(r.counts) > 0 {
			return Item{}, corrupt("an image frame out of place")
		}
		ps, k := binary.Uvarint(b)
		if k <= 0 || ps > 65536 {
			return Item{}, corrupt("bad image header")
		}
		pages, k2 := binary.Uvarint(b[k:])
		info := ImageInfo{PageSize: int(ps), Pages: int64(pages)}
		if k2 <= 0 || k+k2 != len(b) || pages > maxImage || !info.valid() {
			return Item{}, corrupt("bad image header")
		}
		r.image = &info
		return Item{Image: &info}, nil
	case kindData:
		if r.image == nil {
			return Item{}, corrupt("image data before the image")
		}
		if r.read += int64(len(b)); r.read > r.image.Bytes() {
			return Item{}, corrupt("more image data than the image's %d pages", r.image.Pages)
		}
		return Item{Data: b}, nil
	case kindTable:
		if r.image != nil {
			return Item{}, corrupt("a table frame in an image backup")
		}
		name, rest, err := readString(b)
		if err != nil {
			return Item{}, err
		}
		n, k := binary.Uvarint(rest)
		if k <= 0 || n > 4096 {
			return Item{}, corrupt("bad table header")
		}
		rest = rest[k:]
		cols := make([]string, n)
		for i := range cols {
			if cols[i], rest, err = readString(rest); err != nil {
				return Item{}, err
			}
		}
		if _, dup := r.counts[name]; dup {
			return Item{}, corrupt("table %s appears twice", name)
		}
		r.table, r.columns, r.counts[name] = name, cols, 0
		return Item{Table: name, Columns: cols}, nil
	case kindRow:
		if r.table == "" {
			return Item{}, corrupt("a row before any table")
		}
		vals, err := decodeValues(b, len(r.columns))
		if err != nil {
			return Item{}, err
		}
		r.counts[r.table]++
		return Item{Table: r.table, Columns: r.columns, Row: vals}, nil
	case kindManifest:
		return Item{}, r.finish(b)
	}
	return Item{}, corrupt("unknown frame kind %q", kind)
}

func (r *Reader) finish(doc []byte) error {
	var m Manifest
	if err := json.Unmarshal(doc, &m); err != nil {
		return corrupt("the manifest does not parse")
	}
	kind, sig, err := r.frame()
	if err != nil {
		return err
	}
	if kind != kindSignature {
		return corrupt("the manifest is not signed")
	}
	if _, err := r.in.ReadByte(); err != io.EOF {
		return corrupt("data after the signature")
	}
	if r.verify == nil || !r.verify(m.KeyVersion, doc, sig) {
		return corrupt("the manifest's signature does not verify under the audit key (version %d): not made by this vault", m.KeyVersion)
	}
	if !bytes.Equal(m.PayloadSHA256, r.sum.Sum(nil)) {
		return corrupt("the payload's SHA-256 differs from the manifest's")
	}
	if r.image != nil {
		// The counts of an image are the snapshot's; whoever opens the
		// image checks them (CheckCounts).
		if m.Image == nil || *m.Image != *r.image || r.read != r.image.Bytes() {
			return corrupt("the image holds %d bytes, the manifest describes another", r.read)
		}
		r.manifest = &m
		return io.EOF
	}
	if m.Image != nil {
		return corrupt("the manifest describes an image the backup does not hold")
	}
	if len(m.Tables) != len(r.counts) {
		return corrupt("the manifest lists %d tables, the backup holds %d", len(m.Tables), len(r.counts))
	}
	for t, n := range r.counts {
		if m.Tables[t] != n {
			return corrupt("table %s: %d rows, the manifest says %d", t, n, m.Tables[t])
		}
	}
	r.manifest = &m
	return io.EOF
}

// Manifest returns the verified manifest, once Next has returned io.EOF.
func (r *Reader) Manifest() (Manifest, bool) {
	if r.manifest == nil {
		return Manifest{}, false
	}
	return *r.manifest, true
}

// CopyImage writes the rest of an image backup to w, after Next returned
// its Image item, and checks the manifest at the end: w holds a verified
// image only when this returns nil. What w received before an error is
// unverified and must be discarded.
func (r *Reader) CopyImage(w io.Writer) error {
	if r.image == nil {
		return errors.New("backup: not an image backup")
	}
	for {
		it, err := r.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if _, err := w.Write(it.Data); err != nil {
			return err
		}
	}
}

// CheckCounts compares the row counts of a restored image with the
// manifest's (ErrCorrupt when they differ).
func CheckCounts(m Manifest, counts map[string]int64) error {
	if len(m.Tables) != len(counts) {
		return corrupt("the manifest lists %d tables, the image holds %d", len(m.Tables), len(counts))
	}
	for t, n := range counts {
		if want, ok := m.Tables[t]; !ok || want != n {
			return corrupt("table %s: %d rows, the manifest says %d", t, n, m.Tables[t])
		}
	}
	return nil
}
