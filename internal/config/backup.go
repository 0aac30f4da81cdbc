package config

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"
)

// Backup schedules backups (SPEC §12): every interval, to a target,
// encrypted to age recipients, keeping the newest keep files.
type Backup struct {
	Every      string   `yaml:"every"`  // a duration such as 6h; empty: no scheduled backups
	Keep       int      `yaml:"keep"`   // default 14
	Target     string   `yaml:"target"` // dir:///var/backups/coffer (s3:// is not built yet)
	Recipients []string `yaml:"recipients"`
}

// Schedule returns the interval, the target directory and how many
// backups to keep; every is 0 when no backup is scheduled. A schedule
// that cannot run is an error naming the setting.
func (b Backup) Schedule() (every time.Duration, dir string, keep int, err error) {
	if b.Every == "" {
		if b.Target != "" || len(b.Recipients) > 0 {
			return 0, "", 0, errors.New("backup: set every (e.g. 6h) to schedule backups")
		}
		return 0, "", 0, nil
	}
	every, err = time.ParseDuration(b.Every)
	if err != nil || every < time.Minute {
		return 0, "", 0, fmt.Errorf("backup.every: a duration of at least 1m, such as 6h")
	}
	keep = b.Keep
	if keep == 0 {
		keep = 14
	}
	if keep < 1 {
		return 0, "", 0, errors.New("backup.keep: at least 1")
	}
	u, err := url.Parse(b.Target)
	switch {
	case err != nil || b.Target == "":
		return 0, "", 0, errors.New(`backup.target: "dir:///absolute/path"`)
	case u.Scheme == "s3":
		return 0, "", 0, errors.New("backup.target: s3:// targets are not supported yet; use dir:// and copy the files")
	case u.Scheme != "dir" || u.Host != "" || !strings.HasPrefix(u.Path, "/"):
		return 0, "", 0, errors.New(`backup.target: "dir:///absolute/path"`)
	}
	if len(b.Recipients) == 0 {
		return 0, "", 0, errors.New("backup.recipients: at least one age recipient (coffer backup keygen)")
	}
	return every, u.Path, keep, nil
}
