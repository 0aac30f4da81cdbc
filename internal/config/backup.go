package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/cofferhq/coffer"
)

// Backup schedules backups (SPEC §12): every interval, to a target,
// encrypted to age recipients, keeping the newest keep of them.
type Backup struct {
	Every      string   `yaml:"every"`  // a duration such as 6h; empty: no scheduled backups
	Keep       int      `yaml:"keep"`   // default 14
	Target     string   `yaml:"target"` // dir:///var/backups/coffer or s3://bucket/prefix
	Recipients []string `yaml:"recipients"`
	S3         S3       `yaml:"s3"` // how to reach an s3:// target
}

// S3 is how an s3:// target is reached. The credentials are never in this
// file: access_key_file and secret_key_file name files holding them, or,
// with neither set, AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in the
// server's environment hold them.
type S3 struct {
	// Endpoint is host[:port] (https) or an http(s):// URL without a path;
	// default s3.amazonaws.com.
	Endpoint      string `yaml:"endpoint"`
	Region        string `yaml:"region"` // empty: asked of the endpoint
	AccessKeyFile string `yaml:"access_key_file"`
	SecretKeyFile string `yaml:"secret_key_file"`
	// InsecureHTTP allows an http:// endpoint that is not a loopback
	// address. The backups stay age-encrypted and requests stay signed,
	// but anyone on the network path reads the object names, sizes and
	// listings, and can replay or answer requests in the endpoint's place.
	InsecureHTTP bool `yaml:"insecure_http"`
}

// Schedule is a backup schedule that can run.
type Schedule struct {
	Every time.Duration // 0: no scheduled backups
	Keep  int
	Dir   string    // a dir:// target: the directory
	S3    *S3Target // an s3:// target
}

// S3Target is an s3:// target resolved: where, and with which credentials.
type S3Target struct {
	Endpoint string // host[:port]
	Secure   bool   // https
	Region   string
	Bucket   string
	Prefix   string // "" or ending in "/": object names are Prefix + name
	// The credentials print as [REDACTED] however they are printed.
	AccessKey, SecretKey coffer.Secret
}

// String names the target without its credentials (logs, messages).
func (t *S3Target) String() string { return "s3://" + t.Bucket + "/" + t.Prefix }

// bucketName is an S3 bucket name (the rules every provider accepts).
var bucketName = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$`)

// Schedule checks the section and resolves its target; getenv reads the
// server's environment (os.Getenv) for S3 credentials not given as files.
// A schedule that cannot run is an error naming the setting; no error ever
// holds a credential or the target as written (it could hold one).
func (b Backup) Schedule(getenv func(string) string) (Schedule, error) {
	if b.Every == "" {
		if b.Target != "" || len(b.Recipients) > 0 {
			return Schedule{}, errors.New("backup: set every (e.g. 6h) to schedule backups")
		}
		return Schedule{}, nil
	}
	every, err := time.ParseDuration(b.Every)
	if err != nil || every < time.Minute {
		return Schedule{}, fmt.Errorf("backup.every: a duration of at least 1m, such as 6h")
	}
	s := Schedule{Every: every, Keep: b.Keep}
	if s.Keep == 0 {
		s.Keep = 14
	}
	if s.Keep < 1 {
		return Schedule{}, errors.New("backup.keep: at least 1")
	}
	const want = `backup.target: "dir:///absolute/path" or "s3://bucket/prefix"`
	u, err := url.Parse(b.Target)
	if err != nil || b.Target == "" {
		return Schedule{}, errors.New(want)
	}
	switch u.Scheme {
	case "dir":
		if u.Host != "" || !strings.HasPrefix(u.Path, "/") {
			return Schedule{}, errors.New(want)
		}
		if b.S3 != (S3{}) {
			return Schedule{}, errors.New("backup.s3: only for an s3:// target")
		}
		s.Dir = u.Path
	case "s3":
		if s.S3, err = b.S3.resolve(u, getenv); err != nil {
			return Schedule{}, err
		}
	default:
		return Schedule{}, errors.New(want)
	}
	if len(b.Recipients) == 0 {
		return Schedule{}, errors.New("backup.recipients: at least one age recipient (coffer backup keygen)")
	}
	return s, nil
}

// resolve checks an s3:// target and reads its credentials.
func (c S3) resolve(u *url.URL, getenv func(string) string) (*S3Target, error) {
	switch {
	case u.User != nil:
		return nil, errors.New("backup.target: no credentials in the s3:// URL (use backup.s3.access_key_file and secret_key_file, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)")
	case u.Host == "":
		return nil, errors.New(`backup.target: the bucket is missing: "s3://bucket/prefix"`)
	case u.RawQuery != "" || u.Fragment != "" || strings.Contains(u.Host, ":"):
		return nil, errors.New(`backup.target: "s3://bucket/prefix", without a port, query or fragment (the endpoint goes in backup.s3.endpoint)`)
	case !bucketName.MatchString(u.Host) || strings.Contains(u.Host, ".."):
		return nil, errors.New("backup.target: the bucket is not an S3 bucket name (3 to 63 lowercase letters, digits, dots and hyphens)")
	}
	t := &S3Target{Bucket: u.Host, Prefix: strings.Trim(u.Path, "/"), Region: c.Region, Secure: true}
	if t.Prefix != "" {
		t.Prefix += "/"
	}
	if strings.Contains(t.Prefix, "//") {
		return nil, errors.New("backup.target: the prefix has an empty path segment (//)")
	}

	ep := c.Endpoint
	if ep == "" {
		ep = "s3.amazonaws.com"
	}
	if !strings.Contains(ep, "://") {
		ep = "https://" + ep
	}
	e, err := url.Parse(ep)
	if err != nil || e.Host == "" || e.User != nil || (e.Path != "" && e.Path != "/") || e.RawQuery != "" || e.Fragment != "" {
		return nil, errors.New("backup.s3.endpoint: host[:port] or https://host[:port], without a path")
	}
	switch e.Scheme {
	case "https":
	case "http":
		if !loopback(e.Hostname()) && !c.InsecureHTTP {
			return nil, errors.New("backup.s3.endpoint: http:// only to a loopback address (127.0.0.1, ::1, localhost); use https://, or set backup.s3.insecure_http: true to send over plain HTTP anyway")
		}
		t.Secure = false
	default:
		return nil, errors.New("backup.s3.endpoint: the scheme is https:// (or http:// to a loopback address)")
	}
	t.Endpoint = e.Host

	switch {
	case c.AccessKeyFile != "" || c.SecretKeyFile != "":
		if c.AccessKeyFile == "" || c.SecretKeyFile == "" {
			return nil, errors.New("backup.s3: set both access_key_file and secret_key_file, or neither (then AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)")
		}
		if t.AccessKey, err = readSecret("backup.s3.access_key_file", c.AccessKeyFile); err != nil {
			return nil, err
		}
		if t.SecretKey, err = readSecret("backup.s3.secret_key_file", c.SecretKeyFile); err != nil {
			return nil, err
		}
	default:
		id, secret := strings.TrimSpace(getenv("AWS_ACCESS_KEY_ID")), strings.TrimSpace(getenv("AWS_SECRET_ACCESS_KEY"))
		if id == "" || secret == "" {
			return nil, errors.New("backup.s3: no credentials: set backup.s3.access_key_file and secret_key_file, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in the environment")
		}
		t.AccessKey, t.SecretKey = coffer.NewSecret([]byte(id)), coffer.NewSecret([]byte(secret))
	}
	return t, nil
}

// readSecret reads a credential file; the error names the setting and the
// file, never what it holds.
func readSecret(setting, path string) (coffer.Secret, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			err = pe.Err // the path is named once, below
		}
		return coffer.Secret{}, fmt.Errorf("%s: %s: %v", setting, path, err)
	}
	defer clear(b)
	s := strings.TrimSpace(string(b))
	if s == "" || strings.ContainsAny(s, "\r\n") {
		return coffer.Secret{}, fmt.Errorf("%s: %s: want the credential alone on one line", setting, path)
	}
	return coffer.NewSecret([]byte(s)), nil
}

// loopback reports whether host names this machine without a lookup.
func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
