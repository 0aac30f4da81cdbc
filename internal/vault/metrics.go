package vault

import (
	"context"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/internal/policy"
)

// AuthorizeMetrics decides whether the caller may read the server's
// Prometheus metrics: only a role with the metrics grant may (admin does
// not imply it; a scraper gets a key of its own, e.g. the example schema's
// monitoring role). The metrics hold no personal data, but they show
// traffic and errors by route: reconnaissance an anonymous caller is not
// given. Every decision is audited, like every other.
func (v *Admin) AuthorizeMetrics(ctx context.Context, c *Call) error {
	e := c.entry("metrics.read", "")
	if _, err := v.decide(ctx, c, &policy.Request{Action: policy.Metrics}, e); err != nil {
		return err
	}
	e.Outcome = coffer.OutcomeAllowed
	return v.store.AppendAudit(ctx, e)
}
