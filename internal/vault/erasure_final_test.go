package vault_test

import (
	"bytes"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/internal/vault"
)

// subjectBytes is every byte string a subject has in the database (but
// the audit log's hashes and its id, which the audit log names): its
// wrapped DEK, each record's encoded fields and index and each field
// ciphertext, each blind-index hash, each token with its sealed value and
// fingerprint. It reads the file through a connection of its own, closed
// before it returns.
func subjectBytes(t *testing.T, f *fixture, subject string) map[string][]byte {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(f.dir, "coffer.db")+"?_pragma=query_only(1)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	out := map[string][]byte{}
	collect := func(kind, q string) {
		t.Helper()
		rows, err := db.Query(q, subject)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		cols, _ := rows.Columns()
		n := 0
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			for i, v := range vals {
				var b []byte
				switch v := v.(type) {
				case []byte:
					b = v
				case string:
					b = []byte(v)
				}
				if len(b) < 8 { // an empty index: nothing to look for
					continue
				}
				out[fmt.Sprintf("%s %d %s", kind, n, cols[i])] = bytes.Clone(b)
			}
			n++
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
	}
	collect("subject", `SELECT dek FROM subjects WHERE id = ?`)
	collect("record", `SELECT fields, idx FROM records WHERE subject = ?`)
	collect("blind index", `SELECT b.hash FROM blind_index b JOIN records r ON r.id = b.record WHERE r.subject = ?`)
	collect("token", `SELECT token, value, fingerprint FROM tokens WHERE subject = ?`)
	recs, err := f.store.SubjectRecords(ctx, subject)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		for name, ct := range r.Fields {
			out["ciphertext "+r.ID+"."+name] = ct
		}
	}
	return out
}

// findIn reports, for each of secrets, the files of the database (file,
// WAL, shared memory) that hold it.
func findIn(t *testing.T, dir string, secrets map[string][]byte) map[string][]string {
	t.Helper()
	found := map[string][]string{}
	scanned := 0
	for _, name := range []string{"coffer.db", "coffer.db-wal", "coffer.db-shm"} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		scanned++
		for what, s := range secrets {
			if bytes.Contains(b, s) {
				found[what] = append(found[what], name)
			}
		}
	}
	if scanned == 0 {
		t.Fatal("no database file to scan")
	}
	return found
}

// TestErasureIsFinalWhileServing: on a vault serving other subjects
// (creates, reads and searches running throughout), once the erasure of a
// subject is acknowledged no byte string the subject had is left in the
// database file, its WAL or its shared memory — scanned at once, the store
// still open and written to. SPEC §4: secure_delete + a truncating
// checkpoint before the answer.
func TestErasureIsFinalWhileServing(t *testing.T) {
	f := newFixture(t)
	billing := f.call(t, "billing", "billing")
	gone := f.create(t, "cus_gone", map[string]any{"email": "final-erasure@example.com", "name": "Final Erasure",
		"phone": "+49 30 7654321", "address": "7 Shredder Lane"})
	f.create(t, "cus_gone", map[string]any{"email": "final-erasure-2@example.com", "phone": "+49 30 7654322"})
	if _, err := f.v.Records.Create(ctx, billing, "payment_methods", []coffer.NewRecord{{Subject: "cus_gone",
		Fields: raw(map[string]any{"card_number": "4539 5787 6362 1486", "cardholder": "Final Erasure"})}}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.v.Tokens.Tokenize(ctx, billing, vault.TokenizeRequest{Namespace: "default", Subject: "cus_gone",
		Values: []vault.TokenValue{{Value: "account-final-erasure-9931"}}}); err != nil {
		t.Fatal(err)
	}
	if err := f.v.Privacy.SetConsent(ctx, f.admin, "cus_gone", "marketing", vault.ConsentChange{Granted: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.v.Records.Get(ctx, f.admin, "customers", gone.ID); err != nil { // DEK and record cached
		t.Fatal(err)
	}
	secrets := subjectBytes(t, f, "cus_gone")
	count := func(prefix string) (n int) {
		for k := range secrets {
			if len(k) >= len(prefix) && k[:len(prefix)] == prefix {
				n++
			}
		}
		return n
	}
	// 1 DEK; 3 records' fields and the 2 customers' indexes; 4 searchable
	// values indexed; 2 tokens (the card's, the standalone one) × 3; 8
	// field ciphertexts (at least: a tokenized field may keep more).
	for prefix, want := range map[string]int{"subject": 1, "record": 5, "blind index": 4, "token": 6, "ciphertext": 8} {
		if got := count(prefix); got < want {
			t.Fatalf("%d %s byte strings collected, want %d", got, prefix, want)
		}
	}
	// The scan sees them before the erasure: it can see them after.
	if found := findIn(t, f.dir, secrets); len(found) != len(secrets) {
		for what := range secrets {
			if found[what] == nil {
				t.Errorf("before the erasure, %s is in no file", what)
			}
		}
		t.FailNow()
	}

	// Other subjects keep being written, read and searched throughout.
	stop := make(chan struct{})
	started := make(chan struct{}, 4)
	var wg sync.WaitGroup
	var loadErr error
	var loadMu sync.Mutex
	for w := range 4 {
		wg.Go(func() {
			var once sync.Once
			signal := func() { once.Do(func() { started <- struct{}{} }) }
			defer signal() // a worker that fails at once must not hang the test
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				email := fmt.Sprintf("load-%d-%d@example.com", w, i)
				out, err := f.v.Records.Create(ctx, f.admin, "customers", []coffer.NewRecord{{Subject: fmt.Sprintf("cus_load%d_%d", w, i%50),
					Fields: raw(map[string]any{"email": email, "name": "Load Person"})}})
				if err == nil {
					_, err = f.v.Records.Get(ctx, f.admin, "customers", out[0].ID)
				}
				if err == nil {
					_, err = f.v.Records.Search(ctx, f.admin, "customers", raw(map[string]any{"email": email}), 10)
				}
				if err != nil {
					loadMu.Lock()
					loadErr = err
					loadMu.Unlock()
					return
				}
				signal()
			}
		})
	}
	for range 4 {
		<-started
	}

	r, err := f.v.Privacy.CreateRequest(ctx, f.admin, vault.NewRequest{Kind: "erasure", Regime: "gdpr", Subject: "cus_gone"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.v.Privacy.ActOnRequest(ctx, f.admin, r.ID, vault.RequestAction{Action: "verify"}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if _, err := f.v.Privacy.ActOnRequest(ctx, f.admin, r.ID, vault.RequestAction{Action: "complete"}); err != nil {
		t.Fatal(err)
	}
	t.Logf("erasure acknowledged in %v under load", time.Since(start))
	// Acknowledged: scan now, the load still running.
	found := findIn(t, f.dir, secrets)
	close(stop)
	wg.Wait()
	for what, files := range found {
		t.Errorf("after the erasure was acknowledged, %s is still in %v", what, files)
	}
	if loadErr != nil {
		t.Errorf("the concurrent load failed: %v", loadErr)
	}
	if vault.CachedDEK(f.v, "cus_gone") {
		t.Error("the erased subject's DEK is still cached")
	}
	if _, err := f.v.Records.Get(ctx, f.admin, "customers", gone.ID); coffer.ErrorCode(err) != coffer.ENOTFOUND {
		t.Errorf("erased record reads: %v", err)
	}
	if st := f.store.Stats(); st.Truncates == 0 {
		t.Errorf("no truncating checkpoint ran: %+v", st)
	}
}
