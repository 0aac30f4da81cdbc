package main

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"filippo.io/age"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/client"
	"github.com/cofferhq/coffer/internal/audit"
	"github.com/cofferhq/coffer/internal/backup"
	"github.com/cofferhq/coffer/internal/canary"
	"github.com/cofferhq/coffer/internal/sqlite"
	"github.com/cofferhq/coffer/internal/sqlstore"
)

// keygen makes an age identity file in dir and returns its path and
// recipient.
func keygen(t *testing.T, dir string) (string, string) {
	t.Helper()
	code, out, errs := run(t, nil, "", "backup", "keygen")
	if code != 0 {
		t.Fatalf("keygen: exit %d %s", code, errs)
	}
	m := regexp.MustCompile(`recipient: (age1[0-9a-z]+)`).FindStringSubmatch(errs)
	if m == nil || !strings.Contains(out, "AGE-SECRET-KEY-1") || strings.Contains(errs, "AGE-SECRET-KEY") {
		t.Fatalf("keygen: identity on stdout, recipient on stderr; got %q / %q", out, errs)
	}
	path := filepath.Join(dir, "backup.key")
	writeFile(t, path, out)
	return path, m[1]
}

// decryptPayload returns a backup's decrypted payload.
func decryptPayload(t *testing.T, file, identity string) []byte {
	t.Helper()
	ids, err := readIdentities(identity)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := age.Decrypt(f, ids...)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func count(t *testing.T, st *sqlite.Store, q string, args ...any) int64 {
	t.Helper()
	var n int64
	if err := st.DB.QueryRow(context.Background(), q, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}

// TestBackupUnderLoadRestoreWithLedger: a backup taken through the API
// while creates go on holds every audit entry up to its manifest's head
// and verifies; a customer erased after the backup is erased again by a
// restore given the ledger (records, blind index, tokens, consents), and
// the decrypted payload holds no plaintext value.
func TestBackupUnderLoadRestoreWithLedger(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	addr, token, _, stop := devServer(t, data)
	env := map[string]string{"COFFER_ADDR": addr, "COFFER_TOKEN": token}
	cl := testClient(t, addr, token)
	ctx := context.Background()
	identity, recipient := keygen(t, dir)

	secret := canary.New("backup")
	gone, kept := "cus_gone", "cus_kept"
	var goneRec, keptRec string
	for _, s := range []string{gone, kept} {
		c, err := cl.Records().Create(ctx, "account", "customers", client.NewRecord{Subject: s,
			Fields: map[string]any{"email": s + "@example.com", "name": secret, "phone": "+442079460999"}})
		if err != nil {
			t.Fatal(err)
		}
		if s == gone {
			goneRec = c.ID
		} else {
			keptRec = c.ID
		}
		if err := cl.Subjects().SetConsent(ctx, s, "marketing", client.ConsentChange{Granted: true, Source: "test"}); err != nil {
			t.Fatal(err)
		}
		// A tokenized field: the token belongs to the subject.
		if _, err := cl.Records().Create(ctx, "billing", "payment_methods", client.NewRecord{Subject: s,
			Fields: map[string]any{"card_number": "4111111111111111", "cardholder": secret}}); err != nil {
			t.Fatal(err)
		}
	}

	// Writers run until the backup is done.
	done := make(chan struct{})
	var wg sync.WaitGroup
	var created atomic.Int64
	warm := make(chan struct{}) // closed once the writers have made 40 records
	var warmOnce sync.Once
	for w := range 4 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-done:
					return
				default:
				}
				if _, err := cl.Records().Create(ctx, "account", "customers", client.NewRecord{Subject: fmt.Sprintf("cus_load_%d_%d", w, i),
					Fields: map[string]any{"email": fmt.Sprintf("l%d.%d@example.com", w, i), "name": secret}}); err != nil {
					t.Errorf("create under backup: %v", err)
					return
				}
				if created.Add(1) == 40 {
					warmOnce.Do(func() { close(warm) })
				}
			}
		})
	}
	<-warm
	file := filepath.Join(dir, "one.backup")
	code, out, errs := run(t, env, "", "backup", "create", "--recipient", recipient, "--out", file)
	close(done)
	wg.Wait()
	if code != 0 {
		t.Fatalf("backup create: exit %d %s %s", code, out, errs)
	}
	t.Logf("%s (%d creates ran during the test)", strings.TrimSpace(out), created.Load())

	// The payload holds ciphertexts only.
	payload := decryptPayload(t, file, identity)
	canary.InBytes(t, "decrypted backup payload", payload, secret, gone+"@example.com")
	if !bytes.Contains(payload, []byte(gone)) {
		t.Fatal("the payload does not hold the subject ids: is it the store?")
	}

	code, out, errs = run(t, nil, "", "backup", "verify", file, "--identity", identity, "--data", data)
	if code != 0 || !strings.Contains(out, "audit chain intact") {
		t.Fatalf("verify: exit %d %s %s", code, out, errs)
	}
	t.Log(out)

	// Erase cus_gone after the backup, export the ledger.
	req, err := cl.Requests().Create(ctx, client.NewRequest{Kind: "erasure", Subject: gone, Regime: "gdpr"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cl.Requests().Verify(ctx, req.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.Requests().Complete(ctx, req.ID); err != nil {
		t.Fatal(err)
	}
	code, out, errs = run(t, env, "", "ledger", "export")
	if code != 0 || !strings.Contains(out, `"key_version": 1`) {
		t.Fatalf("ledger export: exit %d %s %s", code, out, errs)
	}
	canary.InText(t, "ledger", out, gone)
	ledger := filepath.Join(dir, "ledger.json")
	writeFile(t, ledger, out)
	stop()

	restored := filepath.Join(dir, "restored")
	code, out, errs = run(t, nil, "", "backup", "restore", file, "--identity", identity, "--keys", filepath.Join(data, "keys.json"),
		"--data", restored, "--ledger", ledger)
	if code != 0 || !strings.Contains(out, "1 subjects erased again") {
		t.Fatalf("restore: exit %d %s %s", code, out, errs)
	}
	t.Log(out)

	// The backup is a page image: the erased subject's wrapped DEK, its
	// record's ciphertexts and its card token's value are in it, and the
	// restored files must not hold one byte run of them (secure_delete on
	// the restore's erasure, the WAL folded back).
	img := imageOf(t, file, identity, filepath.Join(data, "keys.json"))
	var dek, fields, tokenValue []byte
	for q, dst := range map[string]*[]byte{
		`SELECT dek FROM subjects WHERE id = ?`:                &dek,
		`SELECT fields FROM records WHERE subject = ? LIMIT 1`: &fields,
		`SELECT value FROM tokens WHERE subject = ? LIMIT 1`:   &tokenValue,
	} {
		if err := img.DB.QueryRow(ctx, q, gone).Scan(dst); err != nil || len(*dst) < 16 {
			t.Fatalf("the image: %s: %v (%d bytes)", q, err, len(*dst))
		}
	}
	img.Close()
	for _, name := range []string{"coffer.db", "coffer.db-wal"} {
		b, err := os.ReadFile(filepath.Join(restored, name))
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		for what, v := range map[string][]byte{"wrapped DEK": dek, "record ciphertexts": fields, "token value": tokenValue} {
			if bytes.Contains(b, v) {
				t.Errorf("restored %s holds the erased subject's %s", name, what)
			}
		}
	}

	m := manifestOf(t, file, identity, filepath.Join(data, "keys.json"))
	st, err := sqlite.Open(ctx, filepath.Join(restored, "coffer.db"), sqlite.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for _, q := range []string{
		`SELECT count(*) FROM records WHERE subject = ?`, `SELECT count(*) FROM subjects WHERE id = ?`,
		`SELECT count(*) FROM tokens WHERE subject = ?`, `SELECT count(*) FROM consent_events WHERE subject = ?`,
	} {
		if n := count(t, st, q, gone); n != 0 {
			t.Errorf("restored: %s = %d for the erased subject", q, n)
		}
		if n := count(t, st, q, kept); n == 0 {
			t.Errorf("restored: %s = 0 for a kept subject", q)
		}
	}
	if n := count(t, st, `SELECT count(*) FROM blind_index WHERE record = ?`, goneRec); n != 0 {
		t.Errorf("restored: %d blind-index entries of the erased record", n)
	}
	if n := count(t, st, `SELECT count(*) FROM blind_index WHERE record = ?`, keptRec); n == 0 {
		t.Error("restored: the kept record lost its blind index")
	}
	if n := count(t, st, `SELECT count(*) FROM erasure_ledger`); n != 1 {
		t.Errorf("restored ledger holds %d entries, want 1", n)
	}
	// Every entry up to the manifest's head, then the restore's own.
	head, err := st.AuditHead(ctx)
	if err != nil {
		t.Fatal(err)
	}
	n, err := audit.Verify(st.AuditLog(ctx), head, trustedKeys{1: signerPub(t, filepath.Join(data, "keys.json"))})
	if err != nil || n != m.AuditSeq+1 || head.Seq != m.AuditSeq+1 {
		t.Fatalf("restored chain: %d entries, head %d, manifest head %d: %v", n, head.Seq, m.AuditSeq, err)
	}
	last, err := st.Audit(ctx, coffer.AuditFilter{AfterSeq: m.AuditSeq})
	if err != nil || len(last) != 1 || last[0].Action != "backup.restore" {
		t.Fatalf("the restore is not audited: %v %v", last, err)
	}
	if m.Tables["records"] < 2 || m.AuditSeq == 0 {
		t.Fatalf("manifest: %+v", m)
	}
}

func signerPub(t *testing.T, keys string) []byte {
	t.Helper()
	_, s, err := rootKeys(keys)
	if err != nil {
		t.Fatal(err)
	}
	return s.PublicKey()
}

// openBackup opens a backup for reading, trusting the audit key of the
// key file keys; the file is closed when the test ends.
func openBackup(t *testing.T, file, identity, keys string) (*backup.Reader, *audit.Signer) {
	t.Helper()
	ids, err := readIdentities(identity)
	if err != nil {
		t.Fatal(err)
	}
	_, signer, err := rootKeys(keys)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	r, err := backup.NewReader(f, trustedKeys{signer.Version(): signer.PublicKey()}.verify, ids...)
	if err != nil {
		t.Fatal(err)
	}
	return r, signer
}

// imageOf writes the page image an image backup holds to a temporary
// file and opens it read-only.
func imageOf(t *testing.T, file, identity, keys string) *sqlite.Store {
	t.Helper()
	r, _ := openBackup(t, file, identity, keys)
	if it, err := r.Next(); err != nil || it.Image == nil {
		t.Fatalf("%s is not an image backup: %v", file, err)
	}
	path := filepath.Join(t.TempDir(), "image.db")
	if err := sqlite.WriteImage(path, r.CopyImage); err != nil {
		t.Fatal(err)
	}
	st, err := sqlite.Open(t.Context(), path, sqlite.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// manifestOf reads and verifies a backup, returning its manifest.
func manifestOf(t *testing.T, file, identity, keys string) backup.Manifest {
	t.Helper()
	r, _ := openBackup(t, file, identity, keys)
	for {
		if _, err := r.Next(); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
	}
	m, _ := r.Manifest()
	return m
}

// reencrypt writes payload encrypted to recipient, as someone holding only
// the public recipient could.
func reencrypt(t *testing.T, path, recipient string, payload []byte) {
	t.Helper()
	r, err := age.ParseX25519Recipient(recipient)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	w, err := age.Encrypt(&buf, r)
	if err != nil {
		t.Fatal(err)
	}
	w.Write(payload)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestBackupBadInput: every damaged, forged or unreadable backup is caught
// by verify with SPEC §12's exit code, and restore refuses it (and every
// other bad input) with exit 2, writing nothing to the target.
func TestBackupBadInput(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	_, token, _, stop := devServer(t, data)
	_ = token
	stop()
	keys := filepath.Join(data, "keys.json")
	identity, recipient := keygen(t, dir)
	good := filepath.Join(dir, "good.backup")
	// A backup of the stopped data directory.
	if code, out, errs := run(t, nil, "", "backup", "create", "--data", data, "--recipient", recipient, "--out", good); code != 0 {
		t.Fatalf("create --data: exit %d %s %s", code, out, errs)
	}
	if code, _, errs := run(t, nil, "", "backup", "create", "--data", data, "--recipient", recipient, "--out", good); code != 2 || !strings.Contains(errs, "exists") {
		t.Fatalf("create over an existing file: exit %d %s", code, errs)
	}
	if code, _, errs := run(t, nil, "", "backup", "create", "--data", data, "--recipient", "age1nope", "--out", filepath.Join(dir, "x")); code != 2 || !strings.Contains(errs, "recipient") {
		t.Fatalf("create with a bad recipient: exit %d %s", code, errs)
	}
	raw, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	payload := decryptPayload(t, good, identity)
	variant := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	flipped := bytes.Clone(raw)
	flipped[len(flipped)/2] ^= 0x01
	edited := bytes.Clone(payload)
	i := bytes.Index(edited, []byte("schema.load"))
	if i < 0 {
		t.Fatal("payload does not hold the audit log")
	}
	edited[i] = 'S'
	forged := filepath.Join(dir, "forged.backup")
	reencrypt(t, forged, recipient, edited)
	newer := bytes.Clone(payload)
	newer[len("COFFER-BACKUP\n")] = backup.Format + 1
	newerFile := filepath.Join(dir, "newer.backup")
	reencrypt(t, newerFile, recipient, newer)
	notBackup := filepath.Join(dir, "text.backup")
	reencrypt(t, notBackup, recipient, []byte("hello"))
	// A backup signed with another vault's audit key: the recipient is
	// public, the key inside the file is nobody's to trust.
	otherKeys := filepath.Join(dir, "other-keys.json")
	if code, _, errs := run(t, nil, "", "keys", "init", otherKeys); code != 0 {
		t.Fatalf("keys init: %d %s", code, errs)
	}
	foreign := filepath.Join(dir, "foreign.backup")
	{
		_, other, err := rootKeys(otherKeys)
		if err != nil {
			t.Fatal(err)
		}
		r, _ := age.ParseX25519Recipient(recipient)
		f, _ := os.Create(foreign)
		w, err := backup.NewWriter(f, r)
		if err != nil {
			t.Fatal(err)
		}
		w.Table("records", "id")
		w.Row("rec_forged")
		if _, err := w.Finish(backup.Manifest{}, other.Current()); err != nil {
			t.Fatal(err)
		}
		f.Close()
	}
	otherID, _ := keygen(t, t.TempDir())
	// Signed with the vault's own key (an insider, or a snapshot that was
	// not consistent): a head the chain does not end at, an edited entry.
	wrongHead := filepath.Join(dir, "wronghead.backup")
	resign(t, good, wrongHead, identity, recipient, keys, resignOpts{manifest: func(m *backup.Manifest) { m.AuditSeq-- }})
	editedEntry := filepath.Join(dir, "editedentry.backup")
	resign(t, good, editedEntry, identity, recipient, keys, resignOpts{sql: `UPDATE audit SET actor = 'key_mallory' WHERE actor = 'system'`})
	editedRow := filepath.Join(dir, "editedrow.backup")
	resign(t, good, editedRow, identity, recipient, keys, resignOpts{rows: true, edit: func(it backup.Item) {
		if it.Table == "audit" {
			for i, c := range it.Columns {
				if c == "actor" && it.Row[i] == "system" {
					it.Row[i] = "key_mallory"
				}
			}
		}
	}})
	rowGone := filepath.Join(dir, "rowgone.backup")
	resign(t, good, rowGone, identity, recipient, keys, resignOpts{sql: `DELETE FROM api_keys`})
	newerSchema := filepath.Join(dir, "newerschema.backup")
	resign(t, good, newerSchema, identity, recipient, keys, resignOpts{sql: `INSERT INTO goose_db_version (version_id, is_applied) VALUES (9999, 1)`})

	cases := []struct {
		name, file, identity string
		verify               int
	}{
		{"flipped byte", variant("flipped.backup", flipped), identity, 1},
		{"truncated", variant("truncated.backup", raw[:len(raw)-100]), identity, 1},
		{"truncated at a chunk", variant("cut.backup", raw[:len(raw)/2]), identity, 1},
		{"re-encrypted with an edit", forged, identity, 1},
		{"signed by another vault", foreign, identity, 1},
		{"signed head not the chain's end", wrongHead, identity, 1},
		{"signed, an audit entry edited in the image", editedEntry, identity, 1},
		{"signed, an audit entry edited in rows", editedRow, identity, 1},
		{"signed, a table's rows not the manifest's count", rowGone, identity, 1},
		{"signed, a schema newer than this build", newerSchema, identity, 2},
		{"wrong identity", good, otherID, 2},
		{"newer format", newerFile, identity, 2},
		{"not a backup", notBackup, identity, 2},
		{"not age", variant("plain.backup", []byte("COFFER-BACKUP\n")), identity, 2},
	}
	for _, c := range cases {
		code, out, errs := run(t, nil, "", "backup", "verify", c.file, "--identity", c.identity, "--keys", keys)
		if code != c.verify {
			t.Errorf("verify %s: exit %d, want %d\n%s%s", c.name, code, c.verify, out, errs)
		}
		target := filepath.Join(dir, "target-"+strings.ReplaceAll(c.name, " ", "-"))
		code, out, errs = run(t, nil, "", "backup", "restore", c.file, "--identity", c.identity, "--keys", keys, "--data", target)
		if code != 2 || !strings.Contains(errs, "nothing was written") && !strings.Contains(errs, "identity") {
			t.Errorf("restore %s: exit %d, want 2 and what to do\n%s%s", c.name, code, out, errs)
		}
		if _, err := os.Stat(target); err == nil {
			t.Errorf("restore %s wrote the target", c.name)
		}
	}
	if ents, _ := filepath.Glob(filepath.Join(dir, ".target-*")); len(ents) > 0 {
		t.Errorf("restores left temporary directories: %v", ents)
	}

	// The good file verifies with the key file or the exported audit key,
	// and with nothing to trust it is refused.
	if code, out, errs := run(t, nil, "", "backup", "verify", good, "--identity", identity, "--keys", keys); code != 0 {
		t.Fatalf("verify good: %d %s %s", code, out, errs)
	}
	code, out, errs := run(t, nil, "", "backup", "audit-key", "--keys", keys)
	if code != 0 {
		t.Fatalf("audit-key: %d %s", code, errs)
	}
	pubFile := filepath.Join(dir, "audit.pub")
	writeFile(t, pubFile, out)
	if code, out, errs := run(t, nil, "", "backup", "verify", good, "--identity", identity, "--audit-key", pubFile); code != 0 {
		t.Fatalf("verify --audit-key: %d %s %s", code, out, errs)
	}
	if code, _, errs := run(t, nil, "", "backup", "verify", good, "--identity", identity); code != 2 || !strings.Contains(errs, "--keys") {
		t.Fatalf("verify without a trusted key: %d %s", code, errs)
	}
	if code, out, errs := run(t, nil, "", "backup", "verify", good, "--identity", identity, "--keys", otherKeys); code != 1 {
		t.Fatalf("verify under another vault's key: %d %s %s", code, out, errs)
	}
	// The audit-keys.txt a server writes beside its config is a trusted key
	// file too (a passphrase vault has no key file): its own verifies,
	// another vault's does not, and a file that is neither is refused.
	if code, out, errs := run(t, nil, "", "backup", "verify", good, "--identity", identity, "--audit-key", filepath.Join(data, "audit-keys.txt")); code != 0 {
		t.Fatalf("verify --audit-key audit-keys.txt: %d %s %s", code, out, errs)
	}
	otherList := filepath.Join(dir, "other-audit-keys.txt")
	if err := audit.WriteKeyFile(otherList, 1, signerPub(t, otherKeys)); err != nil {
		t.Fatal(err)
	}
	if code, out, errs := run(t, nil, "", "backup", "verify", good, "--identity", identity, "--audit-key", otherList); code != 1 {
		t.Fatalf("verify under another vault's audit-keys.txt: %d %s %s", code, out, errs)
	}
	notKey := filepath.Join(dir, "not-a-key.txt")
	writeFile(t, notKey, "coffer-audit-key v1 not-base64\n")
	if code, _, errs := run(t, nil, "", "backup", "verify", good, "--identity", identity, "--audit-key", notKey); code != 2 || !strings.Contains(errs, "not an audit public key") {
		t.Fatalf("verify --audit-key of a file that holds no key: %d %s", code, errs)
	}

	// Restore's other bad inputs.
	nonEmpty := filepath.Join(dir, "nonempty")
	if err := os.Mkdir(nonEmpty, 0o700); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(nonEmpty, "keep.txt"), "x")
	writeFile(t, filepath.Join(nonEmpty, "coffer.db-wal"), "x") // a database's journal is a database
	badLedger := filepath.Join(dir, "bad-ledger.json")
	writeFile(t, badLedger, `{"ledger":[{"hash":"AAAA","key_version":1}]}`)
	junkLedger := filepath.Join(dir, "junk-ledger.json")
	writeFile(t, junkLedger, `not json`)
	for _, c := range []struct {
		name string
		args []string
		want string
	}{
		{"a target holding a database", []string{"--keys", keys, "--data", nonEmpty}, "holds a database"},
		{"short ledger hash", []string{"--keys", keys, "--data", filepath.Join(dir, "t1"), "--ledger", badLedger}, "32 bytes"},
		{"ledger not JSON", []string{"--keys", keys, "--data", filepath.Join(dir, "t2"), "--ledger", junkLedger}, "does not parse"},
		{"missing keys", []string{"--keys", filepath.Join(dir, "nokeys.json"), "--data", filepath.Join(dir, "t3")}, "--keys"},
		{"another vault's keys", []string{"--keys", otherKeys, "--data", filepath.Join(dir, "t4")}, "signature"},
		{"no target", []string{"--keys", keys}, "--data"},
	} {
		code, out, errs := run(t, nil, "", append([]string{"backup", "restore", good, "--identity", identity}, c.args...)...)
		if code != 2 || !strings.Contains(errs, c.want) {
			t.Errorf("restore with %s: exit %d, want 2 naming %q\n%s%s", c.name, code, c.want, out, errs)
		}
	}
	for _, p := range []string{"t1", "t2", "t3", "t4"} {
		if _, err := os.Stat(filepath.Join(dir, p)); err == nil {
			t.Errorf("a refused restore wrote %s", p)
		}
	}
	if ents, _ := os.ReadDir(nonEmpty); len(ents) != 2 || readFile(t, filepath.Join(nonEmpty, "keep.txt")) != "x" {
		t.Errorf("the target holding a database changed: %v", ents)
	}

	// An empty existing directory is a fine target; the restored vault serves.
	empty := filepath.Join(dir, "empty")
	if err := os.Mkdir(empty, 0o700); err != nil {
		t.Fatal(err)
	}
	if code, out, errs := run(t, nil, "", "backup", "restore", good, "--identity", identity, "--keys", keys, "--data", empty); code != 0 {
		t.Fatalf("restore into an empty dir: %d %s %s", code, out, errs)
	}
	if code, out, errs := run(t, nil, "", "audit", "verify", "--data", empty, "--keys", keys); code != 0 {
		t.Fatalf("audit verify of the restored store: %d %s %s", code, out, errs)
	}
}

// resignOpts says how resign forges a backup as an insider holding the
// audit key would.
type resignOpts struct {
	sql      string                 // run on the image before it is signed again
	rows     bool                   // write the image's tables as a logical backup (PostgreSQL's format)
	edit     func(backup.Item)      // edits each row (with rows)
	manifest func(*backup.Manifest) // edits the manifest
}

// resign reads the image backup src, changes it as o says and writes it,
// signed with the vault's own audit key, to dst.
func resign(t *testing.T, src, dst, identity, recipient, keys string, o resignOpts) {
	t.Helper()
	r, signer := openBackup(t, src, identity, keys)
	if it, err := r.Next(); err != nil || it.Image == nil {
		t.Fatalf("resign wants an image backup: %v", err)
	}
	img := filepath.Join(t.TempDir(), "image.db")
	if err := sqlite.WriteImage(img, r.CopyImage); err != nil {
		t.Fatal(err)
	}
	m, _ := r.Manifest()
	if o.sql != "" {
		db, err := sql.Open("sqlite", img)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.Exec(o.sql); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Exec(`PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
			t.Fatal(err)
		}
		db.Close()
	}
	rcpt, _ := age.ParseX25519Recipient(recipient)
	out, err := os.Create(dst)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	w, err := backup.NewWriter(out, rcpt)
	if err != nil {
		t.Fatal(err)
	}
	if o.rows {
		st, err := sqlite.Open(t.Context(), img, sqlite.Options{ReadOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		err = st.Snapshot(t.Context(), func(tx sqlstore.SnapshotTx) error {
			_, err := sqlstore.Dump(t.Context(), tx, &editSink{w: w, edit: o.edit})
			return err
		})
		st.Close()
		if err != nil {
			t.Fatal(err)
		}
	} else {
		b, err := os.ReadFile(img)
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Image(m.Image.PageSize, int64(len(b)/m.Image.PageSize), m.Tables); err != nil {
			t.Fatal(err)
		}
		if err := w.Data(b); err != nil {
			t.Fatal(err)
		}
	}
	if o.manifest != nil {
		o.manifest(&m)
	}
	if _, err := w.Finish(m, signer.Current()); err != nil {
		t.Fatal(err)
	}
}

// editSink writes a Dump's rows into a backup, each edited first.
type editSink struct {
	w     *backup.Writer
	edit  func(backup.Item)
	table string
	cols  []string
}

func (e *editSink) Table(name string, columns ...string) error {
	e.table, e.cols = name, columns
	return e.w.Table(name, columns...)
}

func (e *editSink) Row(values ...any) error {
	if e.edit != nil {
		e.edit(backup.Item{Table: e.table, Columns: e.cols, Row: values})
	}
	return e.w.Row(values...)
}

// TestBackupAPIRefusals: POST /v1/backups and GET /v1/ledger are
// admin-only and audited; a bad recipient is a 400 before any byte of a
// backup; GET /v1/backups without a schedule is a 404.
func TestBackupAPIRefusals(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	addr, token, _, _ := devServer(t, data)
	admin := &apiClient{t: t, addr: addr, token: token}
	_, key, raw := admin.call("POST", "/v1/api-keys", "", map[string]any{"name": "sup", "role": "support"})
	if key["key"] == nil {
		t.Fatalf("api key: %s", raw)
	}
	support := &apiClient{t: t, addr: addr, token: key["key"].(string)}
	_, rcpt := keygen(t, t.TempDir())
	support.expect(403, "forbidden", "POST", "/v1/backups", "", map[string]any{"recipients": []string{rcpt}})
	support.expect(403, "forbidden", "GET", "/v1/ledger", "", nil)
	admin.expect(400, "invalid_argument", "POST", "/v1/backups", "", map[string]any{"recipients": []string{"age1nope"}})
	admin.expect(400, "invalid_argument", "POST", "/v1/backups", "", map[string]any{"recipients": []string{}})
	admin.expect(400, "invalid_argument", "POST", "/v1/backups", "", map[string]any{"recipients": []string{rcpt}, "extra": 1})
	admin.expect(404, "not_found", "GET", "/v1/backups", "", nil)
	_, audit, raw := admin.call("GET", "/v1/audit?limit=50", "", nil)
	if !strings.Contains(raw, `"backup.create"`) || !strings.Contains(raw, `"denied"`) || !strings.Contains(raw, `"ledger.export"`) {
		t.Fatalf("refusals not audited: %v", audit)
	}
}

// TestRestoreReplaysALedgerEntryOfDerivedVersion2: after a rotation of the
// derived-key root, an erasure's ledger entry is keyed under version 2 and
// exported with it; a restore of a backup taken before the erasure, given
// that ledger and the rotated key file, erases the subject again and keeps
// the entry's version. A ledger naming a version the keys lack is refused
// before anything is written.
func TestRestoreReplaysALedgerEntryOfDerivedVersion2(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	addr, token, _, stop := devServer(t, data)
	env := map[string]string{"COFFER_ADDR": addr, "COFFER_TOKEN": token}
	cl := testClient(t, addr, token)
	ctx := context.Background()
	identity, recipient := keygen(t, dir)
	gone, kept := "cus_gone2", "cus_kept2"
	for _, s := range []string{gone, kept} {
		if _, err := cl.Records().Create(ctx, "account", "customers", client.NewRecord{Subject: s,
			Fields: map[string]any{"email": s + "@example.com", "name": "N"}}); err != nil {
			t.Fatal(err)
		}
	}
	file := filepath.Join(dir, "before.backup")
	if code, out, errs := run(t, env, "", "backup", "create", "--recipient", recipient, "--out", file); code != 0 {
		t.Fatalf("backup create: exit %d %s %s", code, out, errs)
	}
	if code, out, errs := run(t, env, "", "keys", "rotate", "--derived"); code != 0 {
		t.Fatalf("keys rotate --derived: exit %d %s %s", code, out, errs)
	}
	if code, out, errs := run(t, env, "", "keys", "status", "--wait"); code != 0 || !strings.Contains(out, "derived version 2") {
		t.Fatalf("keys status: exit %d %s %s", code, out, errs)
	}
	req, err := cl.Requests().Create(ctx, client.NewRequest{Kind: "erasure", Subject: gone, Regime: "gdpr"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cl.Requests().Verify(ctx, req.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.Requests().Complete(ctx, req.ID); err != nil {
		t.Fatal(err)
	}
	code, out, errs := run(t, env, "", "ledger", "export")
	if code != 0 || !strings.Contains(out, `"key_version": 2`) {
		t.Fatalf("ledger export: exit %d %s %s", code, out, errs)
	}
	ledger := filepath.Join(dir, "ledger.json")
	writeFile(t, ledger, out)
	stop()

	future := filepath.Join(dir, "future-ledger.json")
	writeFile(t, future, strings.ReplaceAll(out, `"key_version": 2`, `"key_version": 3`))
	keys := filepath.Join(data, "keys.json")
	code, out, errs = run(t, nil, "", "backup", "restore", file, "--identity", identity, "--keys", keys,
		"--data", filepath.Join(dir, "refused"), "--ledger", future)
	if code == 0 || !strings.Contains(errs, "derived-key root version 3") {
		t.Errorf("restore with a ledger of a version the keys lack: exit %d %s %s", code, out, errs)
	}
	if _, err := os.Stat(filepath.Join(dir, "refused", "coffer.db")); err == nil {
		t.Error("a refused restore wrote a database")
	}

	restored := filepath.Join(dir, "restored")
	code, out, errs = run(t, nil, "", "backup", "restore", file, "--identity", identity, "--keys", keys,
		"--data", restored, "--ledger", ledger)
	if code != 0 || !strings.Contains(out, "1 subjects erased again") {
		t.Fatalf("restore: exit %d %s %s", code, out, errs)
	}
	st, err := sqlite.Open(ctx, filepath.Join(restored, "coffer.db"), sqlite.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if n := count(t, st, `SELECT count(*) FROM records WHERE subject = ?`, gone); n != 0 {
		t.Errorf("restored: %d records of the subject erased under version 2", n)
	}
	if n := count(t, st, `SELECT count(*) FROM records WHERE subject = ?`, kept); n != 1 {
		t.Errorf("restored: %d records of the kept subject", n)
	}
	if n := count(t, st, `SELECT count(*) FROM erasure_ledger WHERE key_version = 2`); n != 1 {
		t.Errorf("restored ledger holds %d entries of version 2, want 1", n)
	}
}
