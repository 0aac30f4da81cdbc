package vault

import "github.com/cofferhq/coffer"

// Audit entry format 2 records the view each field was returned in (SPEC
// §8), so that incident response can say what an actor actually saw.

// shownViews returns the view of each shown field (a subset of names, in
// any order), as decided for names.
func shownViews(shown, names []string, views []coffer.View) []coffer.View {
	out := make([]coffer.View, len(shown))
	for i, s := range shown {
		out[i] = coffer.ViewNone
		for j, n := range names {
			if n == s && j < len(views) {
				out[i] = views[j]
				break
			}
		}
	}
	return out
}
