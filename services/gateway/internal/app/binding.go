package app

import "context"

// bindCheck is the session-binding check of identity.md §1.3 for one identity-claiming write:
// the tool (op), the seat the call claims, and the ref and path it targets. It returns the
// envelope's authored_via value in witness mode ("" otherwise), or the refusal. Every
// identity-claiming tool calls it after its argument checks and before any write.
//
// This build does not enforce binding yet (whoami reports enforced: false).
func (a *App) bindCheck(ctx context.Context, s Session, op, seat, ref, path string) (authoredVia string, err error) {
	_, _, _, _, _ = ctx, s, op, seat, ref
	_ = path
	return "", nil
}
