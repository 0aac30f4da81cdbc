// Package policy is the access decision of SPEC §3, as one pure function,
// and the masks that masked views apply. Nothing else in Coffer decides
// whether an actor may see or change a field.
package policy
