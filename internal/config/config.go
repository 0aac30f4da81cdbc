// Package config reads Coffer's configuration file. A Config is a value
// passed to whoever needs it; there is no global.
package config

import (
	"bytes"
	"fmt"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
	_ "time/tzdata" // time zones on machines without a zoneinfo database

	"go.yaml.in/yaml/v3"
)

// Config is the server's configuration (coffer serve --config FILE).
type Config struct {
	Addr string `yaml:"addr"` // listen address; default 127.0.0.1:8750
	Data string `yaml:"data"` // data directory (SQLite database)
	// Database, when set, is a PostgreSQL DSN: the store for many nodes.
	// Read it from a file with database_file to keep the password out of
	// the config file.
	Database     string `yaml:"database"`
	DatabaseFile string `yaml:"database_file"`
	Schema       string `yaml:"schema"` // schema file, used to seed an empty store
	Keys         Keys   `yaml:"keys"`
	TLS          TLS    `yaml:"tls"`
	// MaxBodyBytes caps request bodies (default 1 MiB).
	MaxBodyBytes int64  `yaml:"max_body_bytes"`
	LogLevel     string `yaml:"log_level"` // debug, info, warn, error
	// SecurityPolicy is the staff policy operators acknowledge before they
	// see plaintext; text_file holds its text.
	SecurityPolicy SecurityPolicy `yaml:"security_policy"`
	// RateLimit bounds each API key's requests (token bucket; 0: none).
	RateLimit RateLimit `yaml:"rate_limit"`
	// TrustedProxies are networks whose X-Forwarded-For header is believed
	// when finding a client's address (CIDR prefixes).
	TrustedProxies []string `yaml:"trusted_proxies"`
	// WebAuthn enables security keys and passkeys as operators' second
	// factor: rp_id is the domain operators reach Coffer by, origins the
	// exact origins of the pages running the ceremonies.
	WebAuthn WebAuthn `yaml:"webauthn"`
	// Privacy configures data-subject requests and retention.
	Privacy Privacy `yaml:"privacy"`
	// Inventory is the data inventory (inventory.yaml): /privacy renders
	// the public privacy notice from it.
	Inventory string `yaml:"inventory"`
	// Audit configures the audit log's checkpoints and their witness.
	Audit Audit `yaml:"audit"`
	// Dir is the configuration file's directory (set by Load): the audit
	// public keys are written there.
	Dir string `yaml:"-"`
	// Backup schedules encrypted backups (backup.go).
	Backup Backup `yaml:"backup"`
}

// Audit: a signed checkpoint of the log every CheckpointEvery entries
// (default 1000) and at least every minute, each appended to Witness.
//
// Witness is a file outside the data directory (default <data>.witness,
// beside it). A witness on the same host catches a database writer — a
// compromised database account, a restored or edited database file, a
// PostgreSQL administrator — who shortens, edits and re-hashes, or rolls
// back the log to an old signed head: the witness holds later checkpoints
// they cannot forge or make disappear from the database alone. It does not
// protect against someone with write access to the witness file too (root
// on the host, the coffer user): they can truncate both. Put the witness
// on other storage (a remote append-only mount, or syslog to another host)
// for that.
type Audit struct {
	Witness         string `yaml:"witness"`
	CheckpointEvery int64  `yaml:"checkpoint_every"`
}

// WitnessPath is the witness file (Witness, or <data>.witness).
func (c Config) WitnessPath() string {
	if c.Audit.Witness != "" {
		return c.Audit.Witness
	}
	return DefaultWitness(c.Data)
}

// DefaultWitness is the development witness beside the data directory.
func DefaultWitness(data string) string {
	return filepath.Clean(data) + ".witness"
}

// AuditKeysPath is where the audit public keys are written: beside the
// configuration file, or in the data directory without one (--dev).
func (c Config) AuditKeysPath() string {
	if c.Dir != "" {
		return filepath.Join(c.Dir, "audit-keys.txt")
	}
	return filepath.Join(c.Data, "audit-keys.txt")
}

// Privacy: the time zone statutory deadlines end in, the systems outside
// Coffer an erasure must reach (manual checklist items), and how often the
// retention sweeper runs.
type Privacy struct {
	TimeZone        string   `yaml:"time_zone"`
	ExternalSystems []string `yaml:"external_systems"`
	// RetentionInterval is a duration such as 1h (default 1h; "off" disables).
	RetentionInterval string `yaml:"retention_interval"`
	// RequestRetentionDays keeps finished requests this long (default 730).
	RequestRetentionDays int `yaml:"request_retention_days"`
}

// Location is the privacy time zone (validated by Load).
func (p Privacy) Location() *time.Location {
	loc, err := time.LoadLocation(p.TimeZone)
	if err != nil || p.TimeZone == "" {
		return time.UTC
	}
	return loc
}

// Sweep is the retention interval: 0 when off.
func (p Privacy) Sweep() time.Duration {
	if p.RetentionInterval == "off" {
		return 0
	}
	d, err := time.ParseDuration(p.RetentionInterval)
	if err != nil || d <= 0 {
		return time.Hour
	}
	return d
}

// WebAuthn names the relying party.
type WebAuthn struct {
	RPID    string   `yaml:"rp_id"`
	Origins []string `yaml:"origins"`
}

// Proxies parses TrustedProxies (validated by Load).
func (c Config) Proxies() []netip.Prefix {
	var out []netip.Prefix
	for _, s := range c.TrustedProxies {
		if p, err := netip.ParsePrefix(s); err == nil {
			out = append(out, p.Masked())
		}
	}
	return out
}

// Keys selects the root-key provider (SPEC §4): file (the default; the
// key file holds the root), passphrase or shamir (the server starts sealed
// and POST /v1/sys/unseal opens it), pkcs11 (an HSM key unwraps the root at
// start; build tag pkcs11). The last three keep the wrapped root in
// envelope (default <data>/root.json).
type Keys struct {
	Provider string `yaml:"provider"` // file (default), passphrase, shamir, pkcs11
	File     string `yaml:"file"`     // key file for the file provider
	Envelope string `yaml:"envelope"` // the wrapped root (passphrase, shamir, pkcs11)
	PKCS11   PKCS11 `yaml:"pkcs11"`
}

// PKCS11 names the HSM for the pkcs11 provider. The PIN is read from
// pin_file (never written in this file).
type PKCS11 struct {
	Module     string `yaml:"module"`
	TokenLabel string `yaml:"token_label"`
	PINFile    string `yaml:"pin_file"`
	PIN        string `yaml:"-"`
	KeyLabel   string `yaml:"key_label"`
}

// SecurityPolicy names the current policy version and its text.
type SecurityPolicy struct {
	Version  string `yaml:"version"`
	TextFile string `yaml:"text_file"`
	Text     string `yaml:"-"`
	// TrainingValidDays is how long a recorded training counts (default 365).
	TrainingValidDays int `yaml:"training_valid_days"`
}

// RateLimit is a token bucket per API key.
type RateLimit struct {
	PerSecond float64 `yaml:"per_second"`
	Burst     int     `yaml:"burst"`
}

// TLS names the certificate and key; both empty means plain HTTP, which is
// only allowed on a loopback address.
type TLS struct {
	Cert string `yaml:"cert"`
	Key  string `yaml:"key"`
	// SelfSigned generates a pair in the data directory on first start
	// (and reuses it), printing its fingerprint for clients to pin.
	SelfSigned bool `yaml:"self_signed"`
}

// Load reads and validates a configuration file. Relative paths in it are
// relative to the file's directory.
func Load(path string) (Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Config{}, err
	}
	var c Config
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		return Config{}, fmt.Errorf("%s: %w", path, err)
	}
	dir := filepath.Dir(path)
	abs := func(p *string) {
		if *p != "" && !filepath.IsAbs(*p) {
			*p = filepath.Join(dir, *p)
		}
	}
	abs(&c.Data)
	abs(&c.Schema)
	abs(&c.Keys.File)
	abs(&c.Keys.Envelope)
	abs(&c.Keys.PKCS11.PINFile)
	abs(&c.TLS.Cert)
	abs(&c.TLS.Key)
	abs(&c.DatabaseFile)
	abs(&c.SecurityPolicy.TextFile)
	abs(&c.Inventory)
	abs(&c.Audit.Witness)
	abs(&c.Backup.S3.AccessKeyFile)
	abs(&c.Backup.S3.SecretKeyFile)
	c.Dir = dir
	if c.SecurityPolicy.TextFile != "" {
		b, err := os.ReadFile(c.SecurityPolicy.TextFile)
		if err != nil {
			return Config{}, fmt.Errorf("%s: security_policy.text_file: %w", path, err)
		}
		c.SecurityPolicy.Text = string(b)
	}
	if (c.SecurityPolicy.Version == "") != (c.SecurityPolicy.Text == "") {
		return Config{}, fmt.Errorf("%s: security_policy: set both version and text_file, or neither", path)
	}
	if c.DatabaseFile != "" {
		if c.Database != "" {
			return Config{}, fmt.Errorf("%s: set database or database_file, not both", path)
		}
		b, err := os.ReadFile(c.DatabaseFile)
		if err != nil {
			return Config{}, fmt.Errorf("%s: database_file: %w", path, err)
		}
		c.Database = strings.TrimSpace(string(b))
	}
	if c.Keys.PKCS11.PINFile != "" {
		b, err := os.ReadFile(c.Keys.PKCS11.PINFile)
		if err != nil {
			return Config{}, fmt.Errorf("%s: keys.pkcs11.pin_file: %w", path, err)
		}
		c.Keys.PKCS11.PIN = strings.TrimSpace(string(b))
	}
	c.setDefaults()
	return c, c.validate(path)
}

func (c *Config) setDefaults() {
	if c.Addr == "" {
		c.Addr = "127.0.0.1:8750"
	}
	if c.Keys.Provider == "" {
		c.Keys.Provider = "file"
	}
	if c.Keys.File == "" && c.Data != "" {
		c.Keys.File = filepath.Join(c.Data, "keys.json")
	}
	if c.Keys.Envelope == "" && c.Data != "" {
		c.Keys.Envelope = filepath.Join(c.Data, "root.json")
	}
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = 1 << 20
	}
	if c.LogLevel == "" {
		c.LogLevel = "info"
	}
}

func (c *Config) validate(path string) error {
	switch {
	case c.Data == "":
		return fmt.Errorf("%s: data: the data directory is required", path)
	case !slices.Contains([]string{"file", "passphrase", "shamir", "pkcs11"}, c.Keys.Provider):
		return fmt.Errorf("%s: keys.provider: %q: want file, passphrase, shamir or pkcs11", path, c.Keys.Provider)
	case c.Keys.Provider == "pkcs11" && (c.Keys.PKCS11.Module == "" || c.Keys.PKCS11.TokenLabel == ""):
		return fmt.Errorf("%s: keys.pkcs11: module and token_label are required (and pin_file)", path)
	case (c.TLS.Cert == "") != (c.TLS.Key == ""):
		return fmt.Errorf("%s: tls: set both cert and key, or neither", path)
	case c.TLS.SelfSigned && c.TLS.Cert != "":
		return fmt.Errorf("%s: tls: self_signed generates its own pair; do not also set cert and key", path)
	case c.MaxBodyBytes < 1024:
		return fmt.Errorf("%s: max_body_bytes: at least 1024", path)
	}
	if c.Audit.CheckpointEvery < 0 {
		return fmt.Errorf("%s: audit: checkpoint_every must not be negative", path)
	}
	if w, d := filepath.Clean(c.WitnessPath()), filepath.Clean(c.Data); w == d || strings.HasPrefix(w, d+string(filepath.Separator)) {
		return fmt.Errorf("%s: audit: witness must be outside the data directory (whoever can rewrite the data can rewrite it too)", path)
	}
	if c.RateLimit.PerSecond < 0 || c.RateLimit.Burst < 0 {
		return fmt.Errorf("%s: rate_limit: per_second and burst must not be negative", path)
	}
	if c.WebAuthn.RPID != "" && len(c.WebAuthn.Origins) == 0 {
		return fmt.Errorf("%s: webauthn: origins: name at least one origin such as https://%s", path, c.WebAuthn.RPID)
	}
	for _, o := range c.WebAuthn.Origins {
		u, err := url.Parse(o)
		if err != nil || u.Host == "" || u.Path != "" || (u.Scheme != "https" && !(u.Scheme == "http" && u.Hostname() == "localhost")) {
			return fmt.Errorf("%s: webauthn: origins: %q is not an origin such as https://vault.example.com (plain http only for localhost)", path, o)
		}
		if h := u.Hostname(); h != c.WebAuthn.RPID && !strings.HasSuffix(h, "."+c.WebAuthn.RPID) {
			return fmt.Errorf("%s: webauthn: origins: %q is not within rp_id %q", path, o, c.WebAuthn.RPID)
		}
	}
	if c.Privacy.RequestRetentionDays < 0 {
		return fmt.Errorf("%s: privacy.request_retention_days: not negative (0: the default, 730)", path)
	}
	if c.Privacy.TimeZone != "" {
		if _, err := time.LoadLocation(c.Privacy.TimeZone); err != nil {
			return fmt.Errorf("%s: privacy.time_zone: %q is not an IANA time zone such as Europe/Berlin", path, c.Privacy.TimeZone)
		}
	}
	if r := c.Privacy.RetentionInterval; r != "" && r != "off" {
		if d, err := time.ParseDuration(r); err != nil || d < time.Minute {
			return fmt.Errorf("%s: privacy.retention_interval: a duration of at least 1m such as 1h, or off", path)
		}
	}
	for _, p := range c.TrustedProxies {
		if _, err := netip.ParsePrefix(p); err != nil {
			return fmt.Errorf("%s: trusted_proxies: %q is not a CIDR prefix such as 10.0.0.0/8", path, p)
		}
	}
	return nil
}

// Redacted returns the configuration with secrets hidden, for printing.
func (c Config) Redacted() Config {
	if c.Database != "" {
		c.Database = "[REDACTED]"
	}
	if c.Keys.PKCS11.PIN != "" {
		c.Keys.PKCS11.PIN = "[REDACTED]"
	}
	// Schedule refuses a backup target with credentials in its URL; should
	// one be written anyway, a dump does not show them. (The S3 keys
	// themselves are only ever in files or the environment.)
	if u, err := url.Parse(c.Backup.Target); err == nil && u.User != nil {
		u.User = nil
		c.Backup.Target = u.String()
	} else if err != nil && strings.Contains(c.Backup.Target, "@") {
		c.Backup.Target = "[REDACTED]"
	}
	return c
}
