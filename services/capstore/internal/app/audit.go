package app

import (
	"encoding/json"

	"github.com/stasima/stasima/pkg/fault"
	"github.com/stasima/stasima/pkg/schema"
)

// row builds an audit intent (U-21); the service assigns its id from the command id.
func row(actor, op, targetRef, targetPath, opID, resultOID, outcome string, detail json.RawMessage) schema.AuditIntent {
	return schema.AuditIntent{
		Actor: actor, Op: op,
		TargetRef: schema.S(targetRef), TargetPath: schema.S(targetPath),
		OpID: schema.S(opID), ResultOID: schema.S(resultOID),
		Outcome: outcome, Detail: detail,
	}
}

// errorRow is the store-error row of T-common-12, or nothing for errors that write no row
// (argument errors and guard refusals that carry their own row, U-22).
func errorRow(actor, op, targetRef, targetPath, opID string, err error) []schema.AuditIntent {
	c := fault.ClassOf(err)
	if !c.IsStoreError() || c == fault.BackendUnavailable {
		// BackendUnavailable is transient here: the command is redelivered, and a row for an
		// attempt that later succeeds would contradict git.
		return nil
	}
	return []schema.AuditIntent{row(actor, op, targetRef, targetPath, opID, "", "error:"+string(c), schema.Detail("msg", err.Error()))}
}
