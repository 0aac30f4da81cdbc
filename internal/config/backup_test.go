package config

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const (
	testAccess = "AKIDCANARY7f3a9c1e"
	testSecret = "SECRETCANARY7f3a9c1e"
)

// env is a getenv over a map.
func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

// credFiles writes an access key and a secret key file.
func credFiles(t *testing.T) (access, secret string) {
	t.Helper()
	dir := t.TempDir()
	access, secret = filepath.Join(dir, "access"), filepath.Join(dir, "secret")
	if err := os.WriteFile(access, []byte(testAccess+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(secret, []byte(testSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return access, secret
}

// TestBackupScheduleRefuses: every schedule that cannot run is an error
// naming the setting, and no error shows a credential.
func TestBackupScheduleRefuses(t *testing.T) {
	access, secret := credFiles(t)
	creds := map[string]string{"AWS_ACCESS_KEY_ID": testAccess, "AWS_SECRET_ACCESS_KEY": testSecret}
	rs := []string{"age1x"}
	for _, c := range []struct {
		name string
		b    Backup
		env  map[string]string
		want string
	}{
		{"relative dir", Backup{Every: "6h", Target: "dir://relative", Recipients: rs}, nil, `backup.target: "dir:///absolute/path"`},
		{"no target", Backup{Every: "6h", Recipients: rs}, nil, "backup.target:"},
		{"other scheme", Backup{Every: "6h", Target: "gs://bucket/x", Recipients: rs}, nil, `"s3://bucket/prefix"`},
		{"short interval", Backup{Every: "10s", Target: "dir:///b", Recipients: rs}, nil, "backup.every: a duration of at least 1m"},
		{"no recipients", Backup{Every: "6h", Target: "dir:///b"}, nil, "backup.recipients"},
		{"no every", Backup{Target: "dir:///b"}, nil, "backup: set every"},
		{"negative keep", Backup{Every: "6h", Keep: -1, Target: "dir:///b", Recipients: rs}, nil, "backup.keep"},
		{"s3 section on a dir target", Backup{Every: "6h", Target: "dir:///b", Recipients: rs, S3: S3{Region: "eu-west-1"}}, nil, "backup.s3: only for an s3:// target"},

		{"missing bucket", Backup{Every: "6h", Target: "s3:///prefix", Recipients: rs}, creds, "backup.target: the bucket is missing"},
		{"missing bucket, no slash", Backup{Every: "6h", Target: "s3://", Recipients: rs}, creds, "backup.target: the bucket is missing"},
		{"bad bucket name", Backup{Every: "6h", Target: "s3://Bad_Bucket/x", Recipients: rs}, creds, "backup.target: the bucket is not an S3 bucket name"},
		{"port in target", Backup{Every: "6h", Target: "s3://bucket:9000/x", Recipients: rs}, creds, "without a port"},
		{"query in target", Backup{Every: "6h", Target: "s3://bucket/x?region=eu", Recipients: rs}, creds, "without a port, query or fragment"},
		{"credentials in the URL", Backup{Every: "6h", Target: "s3://" + testAccess + ":" + testSecret + "@bucket/x", Recipients: rs}, creds, "backup.target: no credentials in the s3:// URL"},
		{"http to another host", Backup{Every: "6h", Target: "s3://bucket/x", Recipients: rs, S3: S3{Endpoint: "http://s3.example.com:9000"}}, creds, "backup.s3.endpoint: http:// only to a loopback address"},
		{"http to a name that resolves anywhere", Backup{Every: "6h", Target: "s3://bucket/x", Recipients: rs, S3: S3{Endpoint: "http://localhost.example.com"}}, creds, "backup.s3.insecure_http"},
		{"endpoint with a path", Backup{Every: "6h", Target: "s3://bucket/x", Recipients: rs, S3: S3{Endpoint: "https://s3.example.com/bucket"}}, creds, "backup.s3.endpoint: host[:port]"},
		{"endpoint scheme", Backup{Every: "6h", Target: "s3://bucket/x", Recipients: rs, S3: S3{Endpoint: "ftp://s3.example.com"}}, creds, "backup.s3.endpoint: the scheme is https://"},
		{"missing credentials", Backup{Every: "6h", Target: "s3://bucket/x", Recipients: rs}, nil, "backup.s3: no credentials: set backup.s3.access_key_file and secret_key_file, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"},
		{"half the credentials in the environment", Backup{Every: "6h", Target: "s3://bucket/x", Recipients: rs}, map[string]string{"AWS_ACCESS_KEY_ID": testAccess}, "backup.s3: no credentials"},
		{"one credential file", Backup{Every: "6h", Target: "s3://bucket/x", Recipients: rs, S3: S3{AccessKeyFile: access}}, creds, "backup.s3: set both access_key_file and secret_key_file"},
		{"missing credential file", Backup{Every: "6h", Target: "s3://bucket/x", Recipients: rs, S3: S3{AccessKeyFile: access, SecretKeyFile: secret + ".gone"}}, nil, "backup.s3.secret_key_file: " + secret + ".gone: no such file"},
		{"credential file with two lines", Backup{Every: "6h", Target: "s3://bucket/x", Recipients: rs, S3: S3{AccessKeyFile: access, SecretKeyFile: twoLines(t)}}, nil, "backup.s3.secret_key_file: "},
		{"s3 without recipients", Backup{Every: "6h", Target: "s3://bucket/x", S3: S3{AccessKeyFile: access, SecretKeyFile: secret}}, nil, "backup.recipients"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := c.b.Schedule(env(c.env))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want an error holding %q", err, c.want)
			}
			if msg := err.Error(); strings.Contains(msg, testSecret) || strings.Contains(msg, testAccess) {
				t.Fatalf("the error shows a credential: %s", msg)
			}
		})
	}
	if s, err := (Backup{}).Schedule(env(nil)); s.Every != 0 || err != nil {
		t.Errorf("no backup section: %+v %v", s, err)
	}
}

func twoLines(t *testing.T) string {
	p := filepath.Join(t.TempDir(), "two")
	if err := os.WriteFile(p, []byte(testSecret+"\n"+testSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestBackupScheduleS3: an s3:// target resolves to bucket, prefix,
// endpoint and TLS, its credentials from files or the environment, and
// they print as [REDACTED] however the schedule is printed.
func TestBackupScheduleS3(t *testing.T) {
	access, secret := credFiles(t)
	rs := []string{"age1x"}
	for _, c := range []struct {
		name                     string
		b                        Backup
		env                      map[string]string
		endpoint, bucket, prefix string
		secure                   bool
	}{
		{"defaults, environment credentials", Backup{Every: "6h", Target: "s3://coffer-backups/prod/", Recipients: rs},
			map[string]string{"AWS_ACCESS_KEY_ID": testAccess, "AWS_SECRET_ACCESS_KEY": testSecret}, "s3.amazonaws.com", "coffer-backups", "prod/", true},
		{"files win over the environment", Backup{Every: "6h", Target: "s3://b.example/a/b", Recipients: rs,
			S3: S3{Endpoint: "minio.internal:9000", Region: "eu-1", AccessKeyFile: access, SecretKeyFile: secret}},
			map[string]string{"AWS_ACCESS_KEY_ID": "other", "AWS_SECRET_ACCESS_KEY": "other"}, "minio.internal:9000", "b.example", "a/b/", true},
		{"no prefix, http to loopback", Backup{Every: "6h", Target: "s3://bucket", Recipients: rs,
			S3: S3{Endpoint: "http://127.0.0.1:7070", AccessKeyFile: access, SecretKeyFile: secret}}, nil, "127.0.0.1:7070", "bucket", "", false},
		{"http to localhost and ::1", Backup{Every: "6h", Target: "s3://bucket/", Recipients: rs,
			S3: S3{Endpoint: "http://[::1]:7070/", AccessKeyFile: access, SecretKeyFile: secret}}, nil, "[::1]:7070", "bucket", "", false},
		{"http elsewhere when insecure_http says so", Backup{Every: "6h", Target: "s3://bucket/x", Recipients: rs,
			S3: S3{Endpoint: "http://s3.lan:9000", InsecureHTTP: true, AccessKeyFile: access, SecretKeyFile: secret}}, nil, "s3.lan:9000", "bucket", "x/", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			s, err := c.b.Schedule(env(c.env))
			if err != nil {
				t.Fatal(err)
			}
			got := s.S3
			if s.Every != 6*time.Hour || s.Keep != 14 || s.Dir != "" || got == nil {
				t.Fatalf("schedule: %+v", s)
			}
			if got.Endpoint != c.endpoint || got.Bucket != c.bucket || got.Prefix != c.prefix || got.Secure != c.secure || got.Region != c.b.S3.Region {
				t.Fatalf("target: %+v", got)
			}
			if string(got.AccessKey.Bytes()) != testAccess || string(got.SecretKey.Bytes()) != testSecret {
				t.Fatal("the credentials were not read")
			}
			js, _ := json.Marshal(s)
			for _, out := range []string{fmt.Sprintf("%v %+v %#v %s", s, s, s, got), fmt.Sprintf("%+v %#v", *got, *got), string(js)} {
				if strings.Contains(out, testSecret) || strings.Contains(out, testAccess) {
					t.Fatalf("a printed schedule shows a credential: %s", out)
				}
			}
			if got.String() != "s3://"+c.bucket+"/"+c.prefix {
				t.Fatalf("String: %s", got)
			}
		})
	}
	s, err := Backup{Every: "1h", Keep: 3, Target: "dir:///var/backups/coffer", Recipients: rs}.Schedule(env(nil))
	if err != nil || s.Dir != "/var/backups/coffer" || s.S3 != nil || s.Keep != 3 {
		t.Fatalf("dir target: %+v %v", s, err)
	}
}

// TestLoadBackupS3: credential files are relative to the configuration
// file, and a dump of a configuration never shows credentials in a target
// URL.
func TestLoadBackupS3(t *testing.T) {
	p := write(t, "data: d\nbackup:\n  every: 6h\n  target: s3://bucket/coffer\n  recipients: [age1x]\n  s3: {endpoint: s3.example.com, access_key_file: s3/access, secret_key_file: s3/secret}\n")
	c, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Dir(p)
	if c.Backup.S3.AccessKeyFile != filepath.Join(dir, "s3/access") || c.Backup.S3.SecretKeyFile != filepath.Join(dir, "s3/secret") {
		t.Fatalf("credential files: %+v", c.Backup.S3)
	}
	c.Backup.Target = "s3://" + testAccess + ":" + testSecret + "@bucket/coffer"
	if out := fmt.Sprintf("%+v", c.Redacted()); strings.Contains(out, testSecret) || strings.Contains(out, testAccess) {
		t.Fatalf("Redacted shows a credential: %s", out)
	}
	if _, err := Load(write(t, "data: d\nbackup: {s3: {secret_key: x}}\n")); err == nil || !strings.Contains(err.Error(), "secret_key not found") {
		t.Fatalf("an inline secret key: %v (the keys are only read from files or the environment)", err)
	}
}
